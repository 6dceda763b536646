-- Charges match on a keyed fingerprint of the full card number (HMAC-SHA256),
-- never on last four and expiry. Rows from before it have '' and match the
-- old way.
ALTER TABLE payments ADD COLUMN card_fingerprint TEXT NOT NULL DEFAULT '';

-- Who is finishing a pending charge: only the caller holding the latest
-- claim may forget it, so a charge another caller is finishing is not lost.
ALTER TABLE payments ADD COLUMN claim_token TEXT NOT NULL DEFAULT '';

-- The simulated processor's own records, standing in for the acquirer's:
-- one row per idempotency key, the first outcome, never captured twice.
-- Kept apart from `payments`: the payment service only reads it through the
-- processor's interface.
CREATE TABLE processor_charges (
    idempotency_key  TEXT PRIMARY KEY,
    card_fingerprint TEXT NOT NULL,
    currency_code    TEXT NOT NULL,
    amount_minor     BIGINT NOT NULL,
    -- approved | declined | voided
    outcome          TEXT NOT NULL,
    decline_reason   TEXT NOT NULL DEFAULT '',
    -- Until then the charge is in flight and the processor answers nothing.
    settles_at       BIGINT NOT NULL,
    created_at       BIGINT NOT NULL
);
