-- Delivery of each notification through each channel, with its life cycle: the record that proves
-- the duty of information, and the work queue of the delivery worker.
ALTER TABLE notifications ADD COLUMN html text NOT NULL DEFAULT '';

CREATE TABLE deliveries (
    delivery_id     uuid PRIMARY KEY,
    notification_id uuid        NOT NULL REFERENCES notifications (notification_id),
    assignment_id   uuid        NOT NULL,
    firm_id         text        NOT NULL,
    stakeholder     text        NOT NULL,
    content_kind    text        NOT NULL,
    channel         text        NOT NULL,   -- email | webhook | kafka
    status          text        NOT NULL,   -- queued | sending | sent | delivered | retrying | failed | cancelled | suppressed
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    claimed_until   timestamptz,
    last_error      text,
    trace_id        text,
    message_id      text,
    queued_at       timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    delivered_at    timestamptz,
    failed_at       timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    -- each notification goes through each channel once, whoever queues it and however often
    UNIQUE (notification_id, channel)
);
CREATE INDEX deliveries_due_idx ON deliveries (next_attempt_at) WHERE status IN ('queued', 'retrying', 'sending');
CREATE INDEX deliveries_assignment_idx ON deliveries (assignment_id);
CREATE INDEX deliveries_firm_idx ON deliveries (firm_id, queued_at);

-- Stops: nothing more goes to a partner who withdrew consent, nothing at all for a cancelled assignment.
CREATE TABLE consent_withdrawals (
    assignment_id uuid PRIMARY KEY,
    withdrawn_at  timestamptz NOT NULL
);
CREATE TABLE cancellations (
    assignment_id uuid PRIMARY KEY,
    cancelled_at  timestamptz NOT NULL,
    reason        text        NOT NULL DEFAULT ''
);
