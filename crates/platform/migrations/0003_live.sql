-- What the live streams (Server-Sent Events) show: one row per change, written in the transaction
-- of the change itself, so a stream shows what committed and nothing else. `seq` counts the
-- changes of one stream (feed and key) and is the stream's event id: a client that comes back
-- with `Last-Event-ID` is given what followed. The counter row of a stream is updated in the
-- writing transaction, so on PostgreSQL two writers of one stream commit in `seq` order and a
-- resumed stream cannot skip a change that committed late.
CREATE TABLE live_streams (
    feed       TEXT   NOT NULL,
    stream_key TEXT   NOT NULL,
    last_seq   BIGINT NOT NULL,
    PRIMARY KEY (feed, stream_key)
);
CREATE TABLE live_changes (
    feed       TEXT   NOT NULL,
    stream_key TEXT   NOT NULL,
    seq        BIGINT NOT NULL,
    event      TEXT   NOT NULL,
    data       TEXT   NOT NULL,
    at         BIGINT NOT NULL,
    PRIMARY KEY (feed, stream_key, seq)
);
CREATE INDEX live_changes_by_age ON live_changes (at);
