-- A delivery from a store to a customer, opened when the food is cooked.
CREATE TABLE deliveries (
    delivery_id      TEXT             PRIMARY KEY,
    order_id         TEXT             NOT NULL UNIQUE,
    customer_id      TEXT             NOT NULL,
    store_id         TEXT             NOT NULL,
    store_name       TEXT             NOT NULL,
    pickup_lat       DOUBLE PRECISION NOT NULL,
    pickup_lng       DOUBLE PRECISION NOT NULL,
    dropoff_text     TEXT             NOT NULL,
    dropoff_lat      DOUBLE PRECISION NOT NULL,
    dropoff_lng      DOUBLE PRECISION NOT NULL,
    status           TEXT             NOT NULL,
    rider_id         TEXT,
    opened_at        BIGINT           NOT NULL,
    picked_at        BIGINT,
    delivered_at     BIGINT
);
-- Riders look for waiting deliveries in a box around them: status, then latitude, narrows it.
CREATE INDEX deliveries_waiting_near ON deliveries (status, pickup_lat, pickup_lng);
CREATE INDEX deliveries_by_rider ON deliveries (rider_id, status);

-- Read model: deliveries completed per rider.
CREATE TABLE rider_stats (
    rider_id  TEXT   PRIMARY KEY,
    delivered BIGINT NOT NULL,
    last_at   BIGINT NOT NULL
);
