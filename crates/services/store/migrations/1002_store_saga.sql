ALTER TABLE store_orders ADD COLUMN cook_minutes BIGINT;
ALTER TABLE store_orders ADD COLUMN ready_at BIGINT;

-- Read model: how many live orders (not rejected or canceled) contain each food, and how many
-- units. Changed in the same transaction as the order it counts.
CREATE TABLE food_counts (
    store_id TEXT   NOT NULL,
    food_id  TEXT   NOT NULL,
    name     TEXT   NOT NULL,
    orders   BIGINT NOT NULL,
    quantity BIGINT NOT NULL,
    PRIMARY KEY (store_id, food_id)
);
