-- The transactional outbox: each saga transition that is an event writes
-- its row in the same transaction as the state change, and the relay
-- publishes the rows in (created_at, event_id) order, marking them sent.
-- Portable DDL: no autoincrement (event ids are time-ordered UUIDs).
CREATE TABLE order_outbox (
    event_id    TEXT PRIMARY KEY,
    order_id    TEXT NOT NULL,
    -- The broker subject, e.g. `bazaar.order.v1.OrderConfirmed`.
    subject     TEXT NOT NULL,
    -- The event, protobuf-encoded.
    payload     BYTEA NOT NULL,
    -- W3C trace context of the transition, for the consumer's span.
    traceparent TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    -- When the broker acknowledged it; NULL while pending.
    sent_at     BIGINT
);

CREATE INDEX order_outbox_pending ON order_outbox (sent_at, created_at, event_id);
CREATE INDEX order_outbox_by_order ON order_outbox (order_id, created_at);
