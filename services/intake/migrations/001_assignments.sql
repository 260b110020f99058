-- Assignments intake accepted. The full request is kept as JSON: it is the record of what the
-- firm asked for; the columns beside it are what operators query by.
CREATE TABLE assignments (
    assignment_id    uuid PRIMARY KEY,
    firm_id          text        NOT NULL,
    request_event_id uuid        NOT NULL,
    correlation_id   text        NOT NULL,
    host_country     char(2)     NOT NULL,
    host_city        text        NOT NULL,
    start_date       date        NOT NULL,
    assignment       jsonb       NOT NULL,
    accepted_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX assignments_firm_idx ON assignments (firm_id, accepted_at);

-- Requests intake refused, with the reasons it sent back to the firm.
CREATE TABLE rejections (
    event_id         uuid PRIMARY KEY,
    firm_id          text        NOT NULL,
    assignment_id    uuid,
    request_event_id uuid,
    errors           jsonb       NOT NULL,
    topic            text        NOT NULL,
    partition        integer     NOT NULL,
    record_offset    bigint      NOT NULL,
    rejected_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rejections_firm_idx ON rejections (firm_id, rejected_at);
