-- 1: the change log, accounts, devices and access tokens.
CREATE TABLE change_log (
    seq           INTEGER PRIMARY KEY,
    scope         TEXT NOT NULL,
    doc_id        TEXT NOT NULL,
    hash          TEXT NOT NULL UNIQUE,
    bytes         BLOB NOT NULL,
    origin_device TEXT NOT NULL,
    received_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX change_log_scope ON change_log (scope, seq);
CREATE INDEX server_docs_scope ON docs (scope, id);
CREATE TABLE accounts (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL,
    org_node      TEXT NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE TABLE devices (
    id         TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
) STRICT;
CREATE TABLE tokens (
    hash       TEXT PRIMARY KEY,
    device_id  TEXT NOT NULL REFERENCES devices (id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
) STRICT;
CREATE INDEX tokens_device ON tokens (device_id);
