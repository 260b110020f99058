-- The catalog matching ranks from. Each record is kept whole as JSON (the contract), with the
-- columns the hard-constraint filters need beside it.
CREATE TABLE coaches (
    coach_id          text PRIMARY KEY,
    coach             jsonb       NOT NULL,
    active            boolean     NOT NULL,
    remote            boolean     NOT NULL,
    -- countries served in person: the coach's countries plus those of the cities served
    service_countries text[]      NOT NULL,
    capacity          integer     NOT NULL CHECK (capacity >= 0),
    active_partners   integer     NOT NULL DEFAULT 0,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    -- the capacity constraint, enforced by the database itself
    CONSTRAINT coach_within_capacity CHECK (active_partners <= capacity)
);
CREATE INDEX coaches_countries_idx ON coaches USING gin (service_countries);

CREATE TABLE job_leads (
    job_lead_id text PRIMARY KEY,
    job_lead    jsonb       NOT NULL,
    country     char(2)     NOT NULL,
    remote      boolean     NOT NULL,
    expires_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX job_leads_country_idx ON job_leads (country, expires_at);
CREATE INDEX job_leads_remote_idx ON job_leads (expires_at) WHERE remote;

-- One coach place per assignment.
CREATE TABLE coach_reservations (
    assignment_id uuid PRIMARY KEY,
    coach_id      text        NOT NULL REFERENCES coaches (coach_id),
    reserved_at   timestamptz NOT NULL DEFAULT now()
);

-- What was proposed, as published.
CREATE TABLE proposals (
    assignment_id uuid PRIMARY KEY,
    proposal      jsonb       NOT NULL,
    proposed_at   timestamptz NOT NULL DEFAULT now()
);
