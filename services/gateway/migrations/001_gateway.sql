-- Every POST a firm made, by its Idempotency-Key: a repeat with the same key and the same request
-- gets the first answer again; the same key with another request is refused.
CREATE TABLE requests (
    firm_id         text        NOT NULL,
    idempotency_key text        NOT NULL,
    fingerprint     text        NOT NULL,  -- sha256 of method, path and body
    status_code     integer     NOT NULL,
    response        jsonb       NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (firm_id, idempotency_key)
);

-- What the gateway knows of each assignment, from the events (whichever path submitted it). A
-- row belongs to the firm that wrote first; another firm's events never change it.
CREATE TABLE assignments (
    assignment_id        uuid PRIMARY KEY,
    firm_id              text        NOT NULL,
    submitted_at         timestamptz,
    accepted_at          timestamptz,
    rejection            jsonb,       -- the errors of assignment.rejected
    coach_id             text,
    job_leads            integer,
    unmatched            jsonb,
    matched_at           timestamptz,
    acceptance           jsonb,       -- {coach_id, errors: the refusal's errors | null}
    correlation_id       text,
    consent_withdrawn_at timestamptz,
    cancelled_at         timestamptz,
    updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX assignments_firm_idx ON assignments (firm_id, accepted_at);

-- The duty-of-information record: each delivery's latest status and when it first informed.
CREATE TABLE deliveries (
    delivery_id   uuid PRIMARY KEY,
    assignment_id uuid        NOT NULL,
    firm_id       text        NOT NULL,
    stakeholder   text        NOT NULL,
    channel       text        NOT NULL,
    content_kind  text        NOT NULL,
    status        text        NOT NULL,
    attempts      integer     NOT NULL,
    recorded_at   timestamptz NOT NULL,
    informed_at   timestamptz  -- first time sent (email) or delivered (webhook)
);
CREATE INDEX deliveries_assignment_idx ON deliveries (assignment_id);
