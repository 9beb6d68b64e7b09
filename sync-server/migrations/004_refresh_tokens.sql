-- 4: refresh tokens (issue 9): exchanged once for a new pair.
CREATE TABLE refresh_tokens (
    hash       TEXT PRIMARY KEY,
    device_id  TEXT NOT NULL REFERENCES devices (id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
) STRICT;
CREATE INDEX refresh_tokens_device ON refresh_tokens (device_id);
