-- Accounts. Ids are UUID text and times are microseconds since the Unix
-- epoch, so the same queries run on PostgreSQL and SQLite.
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    -- Normalised (trimmed, lower-case) by the service before it gets here.
    email         TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL,
    -- argon2id PHC string; never the password.
    password_hash TEXT NOT NULL,
    -- Comma-separated role names, e.g. 'customer' or 'customer,admin'.
    roles         TEXT NOT NULL,
    create_time   BIGINT NOT NULL,
    update_time   BIGINT NOT NULL
);
