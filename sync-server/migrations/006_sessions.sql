-- 6: sessions that end (issue 24): revoked refresh tokens, dashboard-session tokens.
ALTER TABLE refresh_tokens ADD COLUMN revoked_at INTEGER;
ALTER TABLE tokens ADD COLUMN web INTEGER NOT NULL DEFAULT 0;
