-- A refund is its own record; one per order, so refunding twice is impossible.
CREATE TABLE refunds (
    refund_id  TEXT   PRIMARY KEY,
    order_id   TEXT   NOT NULL UNIQUE,
    payment_id TEXT   NOT NULL REFERENCES payments (payment_id),
    amount     BIGINT NOT NULL,
    reason     TEXT   NOT NULL,
    status     TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);
