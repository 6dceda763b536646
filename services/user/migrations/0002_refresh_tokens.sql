-- Refresh tokens: only a SHA-256 of each (base64url) is kept, so a copy of
-- the database cannot be replayed as sessions. Rotation retires the row it
-- used; logout revokes one row; a password change or reset and a role
-- change revoke every row of the account. Times are microseconds since the
-- Unix epoch.
CREATE TABLE refresh_tokens (
    token_hash  TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id),
    expire_time BIGINT NOT NULL,
    -- 0 live, 1 revoked, 2 replaced by rotation (a reuse of one of those
    -- revokes the account's sessions); BIGINT, portable unlike BOOLEAN.
    revoked     BIGINT NOT NULL DEFAULT 0,
    create_time BIGINT NOT NULL
);

CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);
