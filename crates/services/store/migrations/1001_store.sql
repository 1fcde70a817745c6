CREATE TABLE stores (
    store_id   TEXT             PRIMARY KEY,
    owner_id   TEXT             NOT NULL,
    name       TEXT             NOT NULL,
    lat        DOUBLE PRECISION NOT NULL,
    lng        DOUBLE PRECISION NOT NULL,
    is_open    BIGINT           NOT NULL,
    -- bumped on every change; published so replicas drop stale copies
    revision   BIGINT           NOT NULL,
    created_at BIGINT           NOT NULL
);
CREATE INDEX stores_owner ON stores (owner_id);

CREATE TABLE foods (
    store_id TEXT   NOT NULL REFERENCES stores (store_id),
    food_id  TEXT   NOT NULL,
    position BIGINT NOT NULL,
    name     TEXT   NOT NULL,
    price    BIGINT NOT NULL,
    sold_out BIGINT NOT NULL,
    PRIMARY KEY (store_id, food_id)
);

-- The store's copy of each order it received (from OrderPlaced); the owner works from it.
CREATE TABLE store_orders (
    order_id         TEXT   PRIMARY KEY,
    store_id         TEXT   NOT NULL,
    customer_id      TEXT   NOT NULL,
    status           TEXT   NOT NULL,
    amount           BIGINT NOT NULL,
    items            TEXT   NOT NULL,
    delivery_address TEXT   NOT NULL,
    placed_at        BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    version          BIGINT NOT NULL
);
CREATE INDEX store_orders_by_store ON store_orders (store_id, status, placed_at);
