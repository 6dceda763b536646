-- An order and where its checkout saga stands. `state` is written before every
-- call to another service, so after a crash the recovery worker knows what
-- may have happened and how to finish it.
CREATE TABLE orders (
    id              TEXT PRIMARY KEY,
    customer_id     TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    -- What was asked (items, card's last four and expiry): a repeat under the
    -- same key must ask the same.
    fingerprint     TEXT NOT NULL,
    state           TEXT NOT NULL,
    currency_code   TEXT NOT NULL DEFAULT '',
    total_minor     BIGINT NOT NULL DEFAULT 0,
    failure_reason  TEXT NOT NULL DEFAULT '',
    payment_id      TEXT NOT NULL DEFAULT '',
    -- Until then, a live request owns the saga; after it, recovery may.
    lease_until     BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    UNIQUE (customer_id, idempotency_key)
);

CREATE INDEX orders_by_customer ON orders (customer_id, created_at, id);
CREATE INDEX orders_by_time ON orders (created_at, id);
CREATE INDEX orders_in_flight ON orders (state, lease_until);

CREATE TABLE order_items (
    order_id         TEXT NOT NULL REFERENCES orders (id),
    position         INTEGER NOT NULL,
    product_id       TEXT NOT NULL,
    quantity         INTEGER NOT NULL CHECK (quantity > 0),
    -- Known once stock is reserved (the catalog's price at that moment).
    product_name     TEXT NOT NULL DEFAULT '',
    unit_price_minor BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (order_id, position)
);
