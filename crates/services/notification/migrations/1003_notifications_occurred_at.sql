-- When the event a message tells of happened. Events of one order from different producers may be
-- read in either order (each context has its own topic), so the customer's list is ordered by
-- this, not by when a message was queued.
ALTER TABLE notifications ADD COLUMN occurred_at BIGINT NOT NULL DEFAULT 0;
UPDATE notifications SET occurred_at = created_at;
CREATE INDEX notifications_by_customer_occurred ON notifications (customer_id, occurred_at);
DROP INDEX notifications_by_customer;
