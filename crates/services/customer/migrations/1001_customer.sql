CREATE TABLE customers (
    customer_id      TEXT   PRIMARY KEY,
    completed_orders BIGINT NOT NULL,
    grade            TEXT   NOT NULL,
    updated_at       BIGINT NOT NULL
);

-- Each completed order counts once, whatever the deliveries of its event.
CREATE TABLE completed_orders (
    order_id     TEXT   PRIMARY KEY,
    customer_id  TEXT   NOT NULL,
    completed_at BIGINT NOT NULL
);

-- One coupon per review: a review can neither earn two nor lose one twice.
CREATE TABLE coupons (
    coupon_id   TEXT   PRIMARY KEY,
    customer_id TEXT   NOT NULL,
    review_id   TEXT   NOT NULL UNIQUE,
    order_id    TEXT   NOT NULL,
    status      TEXT   NOT NULL,
    issued_at   BIGINT NOT NULL,
    revoked_at  BIGINT
);
CREATE INDEX coupons_by_customer ON coupons (customer_id, status);
