-- One payment per order: order_id is the idempotency key of a charge.
CREATE TABLE payments (
    payment_id  TEXT   PRIMARY KEY,
    order_id    TEXT   NOT NULL UNIQUE,
    customer_id TEXT   NOT NULL,
    amount      BIGINT NOT NULL,
    method      TEXT   NOT NULL,
    status      TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX payments_customer ON payments (customer_id, created_at);
