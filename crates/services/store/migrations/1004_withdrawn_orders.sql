-- Orders the order service canceled before the store had them (it never received them in time):
-- an `OrderPlaced` that arrives after all, a replayed dead letter say, is not taken.
CREATE TABLE withdrawn_orders (
    order_id     TEXT   PRIMARY KEY,
    withdrawn_at BIGINT NOT NULL
);
