-- The order service's copy of every store's card and menu, fed by MenuPublished, so an order is
-- priced without calling the store service (orders are taken while it is down).
CREATE TABLE menu_replica (
    store_id TEXT             PRIMARY KEY,
    owner_id TEXT             NOT NULL,
    name     TEXT             NOT NULL,
    lat      DOUBLE PRECISION NOT NULL,
    lng      DOUBLE PRECISION NOT NULL,
    is_open  BIGINT           NOT NULL,
    foods    TEXT             NOT NULL,
    revision BIGINT           NOT NULL
);

-- The order aggregate.
CREATE TABLE orders (
    order_id         TEXT   PRIMARY KEY,
    customer_id      TEXT   NOT NULL,
    store_id         TEXT   NOT NULL,
    store_name       TEXT   NOT NULL,
    status           TEXT   NOT NULL,
    amount           BIGINT NOT NULL,
    items            TEXT   NOT NULL,
    delivery_address TEXT   NOT NULL,
    payment_id       TEXT   NOT NULL,
    placed_at        BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    version          BIGINT NOT NULL
);
CREATE INDEX orders_customer ON orders (customer_id, placed_at);

-- The customer's "mypage" read model, built only from events.
CREATE TABLE mypage_orders (
    order_id    TEXT   PRIMARY KEY,
    customer_id TEXT   NOT NULL,
    store_id    TEXT   NOT NULL,
    store_name  TEXT   NOT NULL,
    status      TEXT   NOT NULL,
    amount      BIGINT NOT NULL,
    items       TEXT   NOT NULL,
    placed_at   BIGINT NOT NULL,
    -- event time of the step that set `status`: a late, older event does not overwrite it
    status_at   BIGINT NOT NULL
);
CREATE INDEX mypage_by_customer ON mypage_orders (customer_id, placed_at);

CREATE TABLE mypage_timeline (
    order_id TEXT   NOT NULL,
    status   TEXT   NOT NULL,
    at       BIGINT NOT NULL,
    PRIMARY KEY (order_id, status)
);
