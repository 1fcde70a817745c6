-- The owner's order list pages by (placed_at, order_id), with or without a status.
CREATE INDEX store_orders_by_time ON store_orders (store_id, placed_at, order_id);
