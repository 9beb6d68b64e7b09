-- Schema version 3 (issue 9, crypto-shredding, docs/adr/0004-crypto-shredding.md): per-person
-- data keys that seal a person's sensitive fields inside its document, and erased persons.
-- Phones and the server share these tables.
CREATE TABLE person_keys (
    person_id TEXT PRIMARY KEY,
    key       BLOB NOT NULL,
    -- phone: the server acknowledged the key; server: unused (1)
    uploaded  INTEGER NOT NULL DEFAULT 0
) STRICT;

-- An erased person: its key was destroyed. On the server `seq` orders erasures for devices
-- (they ask for erasures after the last seq they saw); on a phone it is the server's seq, or
-- NULL for an erasure not received from a server.
CREATE TABLE erasures (
    person_id TEXT PRIMARY KEY,
    seq       INTEGER UNIQUE,
    erased_at INTEGER NOT NULL
) STRICT;
