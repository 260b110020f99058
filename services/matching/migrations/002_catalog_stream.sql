-- Catalogs arrive over Kafka: a tombstone marks a record deleted (kept, so reservations still
-- point at it and every replica's in-memory index sees the removal when it refreshes).
ALTER TABLE coaches ADD COLUMN deleted boolean NOT NULL DEFAULT false;
ALTER TABLE job_leads ADD COLUMN deleted boolean NOT NULL DEFAULT false;
CREATE INDEX coaches_updated_idx ON coaches (updated_at);
CREATE INDEX job_leads_updated_idx ON job_leads (updated_at);

-- Partners whose match is still open: what batch re-assignment and new leads are matched against.
CREATE TABLE open_partners (
    assignment_id  uuid PRIMARY KEY,
    firm_id        text        NOT NULL,
    correlation_id text        NOT NULL,
    profile        jsonb       NOT NULL,
    host_country   char(2)     NOT NULL,
    host           jsonb       NOT NULL,
    start_date     date        NOT NULL,
    opened_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX open_partners_country_idx ON open_partners (host_country);

-- A proposed coach may still be moved by a batch re-assignment; an accepted one never is.
ALTER TABLE coach_reservations ADD COLUMN status text NOT NULL DEFAULT 'proposed'
    CHECK (status IN ('proposed', 'accepted'));
CREATE INDEX coach_reservations_coach_idx ON coach_reservations (coach_id);
