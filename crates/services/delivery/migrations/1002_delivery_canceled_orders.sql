-- Orders canceled before their delivery opened. OrderCanceled (the order service's topic) may be
-- read before the store's CookFinished; the mark keeps a late CookFinished from opening a delivery
-- for a canceled order.
CREATE TABLE canceled_orders (
    order_id    TEXT   PRIMARY KEY,
    canceled_at BIGINT NOT NULL
);
