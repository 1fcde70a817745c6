-- Who to tell about an order, learned from OrderPlaced (later events carry only the order id).
CREATE TABLE order_contacts (
    order_id    TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL,
    store_name  TEXT NOT NULL
);

-- One message per customer-visible event: event_id is unique, so a redelivery never adds one.
CREATE TABLE notifications (
    notification_id TEXT   PRIMARY KEY,
    event_id        TEXT   NOT NULL UNIQUE,
    order_id        TEXT   NOT NULL,
    customer_id     TEXT   NOT NULL,
    event_type      TEXT   NOT NULL,
    message         TEXT   NOT NULL,
    -- Pending → Sending → Sent | Failed; Pending → Dropped when shed under overload
    status          TEXT   NOT NULL,
    attempts        BIGINT NOT NULL,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    sent_at         BIGINT
);
CREATE INDEX notifications_pending ON notifications (status, created_at);
CREATE INDEX notifications_by_customer ON notifications (customer_id, created_at);
