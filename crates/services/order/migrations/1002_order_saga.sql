-- The order remembers where it stood before a cancel request, to go back there if the store
-- refuses, and the store's promise of when the food is ready.
ALTER TABLE orders ADD COLUMN resume_status TEXT;
ALTER TABLE orders ADD COLUMN ready_at BIGINT;
ALTER TABLE orders ADD COLUMN cancel_refusal TEXT;

-- Mypage becomes a set of steps keyed by the event that made each one, so events applied in any
-- order (late, replayed) give the same view; the current status is the latest status step.
-- (Pre-release: the read model is recreated rather than migrated.)
DROP TABLE mypage_timeline;
DROP TABLE mypage_orders;
CREATE TABLE mypage_orders (
    order_id    TEXT   PRIMARY KEY,
    customer_id TEXT   NOT NULL,
    store_id    TEXT   NOT NULL,
    store_name  TEXT   NOT NULL,
    amount      BIGINT NOT NULL,
    items       TEXT   NOT NULL,
    placed_at   BIGINT NOT NULL,
    ready_at    BIGINT
);
CREATE INDEX mypage_by_customer ON mypage_orders (customer_id, placed_at);

CREATE TABLE mypage_steps (
    order_id TEXT   NOT NULL,
    event_id TEXT   NOT NULL,
    -- `status` steps move the order; `payment` steps (a refund) are shown but do not
    kind     TEXT   NOT NULL,
    status   TEXT   NOT NULL,
    at       BIGINT NOT NULL,
    note     TEXT,
    PRIMARY KEY (order_id, event_id)
);
