-- Events that arrived before their order's OrderPlaced. Each producing context has a topic of its
-- own, so a store's OrderAccepted may be read before the order service's OrderPlaced; the event
-- waits here until the contact is known, then becomes its message.
CREATE TABLE awaiting_contact (
    event_id  TEXT   PRIMARY KEY,
    order_id  TEXT   NOT NULL,
    body      TEXT   NOT NULL,
    parked_at BIGINT NOT NULL
);
CREATE INDEX awaiting_contact_by_order ON awaiting_contact (order_id);
