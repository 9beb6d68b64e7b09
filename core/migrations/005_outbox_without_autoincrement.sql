-- One page less written per save (issue 9: every page written to an encrypted store is encrypted
-- and authenticated, so pages are what encryption costs; a plain store gains too). Figures:
-- docs/benchmarks.md "Store encryption at rest".
-- - outbox: no AUTOINCREMENT, so no `sqlite_sequence` page written per save. `seq` only orders
--   the outbox (a new row's rowid is always above every row present); nothing keeps a seq
--   after its row is acknowledged and deleted.
-- Shipped files are frozen: a later change is a new file.

CREATE TABLE outbox_new (
    seq    INTEGER PRIMARY KEY,
    doc_id TEXT NOT NULL,
    hash   TEXT NOT NULL UNIQUE,
    bytes  BLOB NOT NULL
) STRICT;
INSERT INTO outbox_new (seq, doc_id, hash, bytes) SELECT seq, doc_id, hash, bytes FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;
DELETE FROM sqlite_sequence WHERE name = 'outbox';
