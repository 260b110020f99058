-- An outbox row the broker will not take (too large, invalid topic, refused again and again while
-- it answers) is moved here with the reason, so that the relay goes on with later rows. Its id is
-- kept: a retry puts it back under the same id, ahead of its key's later rows.
ALTER TABLE outbox ADD COLUMN attempts integer NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN last_error text;

CREATE TABLE outbox_parked (
    id          bigint      PRIMARY KEY,
    event_id    text        NOT NULL,
    topic       text        NOT NULL,
    key         bytea       NOT NULL,
    payload     bytea       NOT NULL,
    headers     jsonb       NOT NULL,
    created_at  timestamptz NOT NULL,
    attempts    integer     NOT NULL,
    -- refused: the broker refused it for good; attempts: refused too often; held: behind a parked
    -- row of the same topic and key, so that the key's records keep their order
    reason      text        NOT NULL,
    parked_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbox_parked_by_key ON outbox_parked (topic, key, id);
