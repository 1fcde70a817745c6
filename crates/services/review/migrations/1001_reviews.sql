-- One review per order, ever: a deleted review stays as a record so the order cannot be
-- reviewed (and rewarded) again.
CREATE TABLE reviews (
    review_id   TEXT   PRIMARY KEY,
    order_id    TEXT   NOT NULL UNIQUE,
    customer_id TEXT   NOT NULL,
    store_id    TEXT   NOT NULL,
    rating      BIGINT NOT NULL,
    body        TEXT   NOT NULL,
    status      TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    deleted_at  BIGINT
);
CREATE INDEX reviews_by_store ON reviews (store_id, status, created_at);
