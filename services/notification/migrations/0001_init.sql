-- One row per order event that concerns the customer: the event id is the
-- key, so a redelivered event cannot make a second notification.
CREATE TABLE notifications (
    event_id    TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL,
    order_id    TEXT NOT NULL,
    -- order_confirmed | order_failed | order_cancelled | order_shipped
    kind        TEXT NOT NULL,
    title       TEXT NOT NULL,
    body        TEXT NOT NULL,
    -- µs since the epoch: when the event happened, and when it arrived.
    occurred_at BIGINT NOT NULL,
    received_at BIGINT NOT NULL
);

-- ListNotifications: a customer's, newest first.
CREATE INDEX notifications_by_customer ON notifications (customer_id, occurred_at, event_id);
