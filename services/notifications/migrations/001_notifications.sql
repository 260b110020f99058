-- What notifications needs to know about an assignment, as announced by intake and matching.
CREATE TABLE assignments (
    assignment_id  uuid PRIMARY KEY,
    firm_id        text        NOT NULL,
    correlation_id text        NOT NULL,
    created        jsonb       NOT NULL,  -- the assignment.created payload
    received_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE matches (
    assignment_id uuid PRIMARY KEY,
    proposal      jsonb       NOT NULL,   -- the match.proposed payload
    received_at   timestamptz NOT NULL DEFAULT now()
);

-- The duty-of-information record: who was told what, through which channel, and when.
CREATE TABLE notifications (
    notification_id uuid PRIMARY KEY,
    assignment_id   uuid        NOT NULL,
    firm_id         text        NOT NULL,
    stakeholder     text        NOT NULL,
    channel         text        NOT NULL,
    content_kind    text        NOT NULL,
    language        text        NOT NULL,
    recipient       text        NOT NULL,
    subject         text        NOT NULL,
    body            text        NOT NULL,
    trace_id        text,
    notified_at     timestamptz NOT NULL,
    -- each stakeholder gets each kind of content once, whatever is redelivered
    UNIQUE (assignment_id, stakeholder, content_kind)
);
CREATE INDEX notifications_firm_idx ON notifications (firm_id, notified_at);
