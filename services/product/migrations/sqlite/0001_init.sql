-- The catalog and stock reservations (SQLite).
-- Ids are TEXT UUIDs, times BIGINT microseconds since the Unix epoch, money
-- BIGINT minor units: the portable dialect shared with PostgreSQL.

CREATE TABLE products (
    id TEXT PRIMARY KEY NOT NULL,
    sku TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    category TEXT NOT NULL,
    price_minor BIGINT NOT NULL CHECK (price_minor >= 0),
    currency_code TEXT NOT NULL,
    -- Conditional updates keep stock non-negative; the check is the backstop.
    stock BIGINT NOT NULL CHECK (stock >= 0),
    create_time BIGINT NOT NULL,
    update_time BIGINT NOT NULL
);

-- Keyset pagination walks (name, id).
CREATE INDEX products_name_id ON products (name, id);
CREATE INDEX products_category_name_id ON products (category, name, id);

-- One reservation per order: order_id is the idempotency key.
CREATE TABLE reservations (
    order_id TEXT PRIMARY KEY NOT NULL,
    state TEXT NOT NULL,
    create_time BIGINT NOT NULL,
    expire_time BIGINT NOT NULL,
    update_time BIGINT NOT NULL
);

-- The sweeper looks for RESERVED rows past their expiry.
CREATE INDEX reservations_state_expire ON reservations (state, expire_time);

-- No foreign key to products: a reservation keeps its copy of the name and
-- price even if the product is deleted.
CREATE TABLE reservation_items (
    order_id TEXT NOT NULL REFERENCES reservations (order_id) ON DELETE CASCADE,
    position BIGINT NOT NULL,
    product_id TEXT NOT NULL,
    quantity BIGINT NOT NULL CHECK (quantity >= 1),
    product_name TEXT NOT NULL,
    unit_price_minor BIGINT NOT NULL,
    currency_code TEXT NOT NULL,
    PRIMARY KEY (order_id, product_id)
);
