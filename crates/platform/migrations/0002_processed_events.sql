-- The inbox: an event id here means this consumer's handler for it has committed, so a
-- redelivery is a no-op.
CREATE TABLE processed_events (
    consumer     TEXT   NOT NULL,
    event_id     TEXT   NOT NULL,
    event_type   TEXT   NOT NULL,
    processed_at BIGINT NOT NULL,
    PRIMARY KEY (consumer, event_id)
);
