-- Events a service committed with its state change, waiting for the relay to publish them.
-- id is the event id (UUIDv7): text order is creation order, the order the relay publishes in.
CREATE TABLE outbox (
    id          TEXT    PRIMARY KEY,
    record_key  TEXT    NOT NULL,
    event_type  TEXT    NOT NULL,
    payload     TEXT    NOT NULL,
    traceparent TEXT,
    created_at  BIGINT  NOT NULL,
    sent_at     BIGINT
);
CREATE INDEX outbox_unsent ON outbox (sent_at, id);
