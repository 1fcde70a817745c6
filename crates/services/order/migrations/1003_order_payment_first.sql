-- An order is recorded as PaymentPending before its charge, so no charge can exist without an
-- order that knows of it; it becomes Placed (with its payment id) once the charge is approved.
-- It remembers the menu revision it was priced at, for the store to check, and the customer's
-- Idempotency-Key with a fingerprint of the request, so a repeated request finds its order.
ALTER TABLE orders ADD COLUMN menu_revision BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN idempotency_key TEXT;
ALTER TABLE orders ADD COLUMN request_fingerprint TEXT;
-- Several NULL keys are allowed on both SQLite and PostgreSQL: only keyed requests are unique.
CREATE UNIQUE INDEX orders_idempotency ON orders (customer_id, idempotency_key);
-- Orders still waiting for their payment, oldest first, for the recovery sweep.
CREATE INDEX orders_by_status ON orders (status, placed_at);
