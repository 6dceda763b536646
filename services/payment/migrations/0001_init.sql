-- One row per charge idempotency key: the record of whether money was taken.
CREATE TABLE payments (
    id              TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    order_id        TEXT NOT NULL,
    currency_code   TEXT NOT NULL,
    amount_minor    BIGINT NOT NULL CHECK (amount_minor > 0),
    refunded_minor  BIGINT NOT NULL DEFAULT 0 CHECK (refunded_minor >= 0 AND refunded_minor <= amount_minor),
    -- pending | succeeded | declined
    status          TEXT NOT NULL,
    card_brand      TEXT NOT NULL,
    card_last4      TEXT NOT NULL,
    card_exp        TEXT NOT NULL,
    decline_reason  TEXT NOT NULL DEFAULT '',
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);

CREATE INDEX payments_order_id ON payments (order_id);

CREATE TABLE refunds (
    id              TEXT PRIMARY KEY,
    payment_id      TEXT NOT NULL REFERENCES payments (id),
    idempotency_key TEXT NOT NULL,
    amount_minor    BIGINT NOT NULL CHECK (amount_minor > 0),
    reason          TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    UNIQUE (payment_id, idempotency_key)
);
