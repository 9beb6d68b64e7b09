-- Fewer pages per save and per first screen (issue 9: every page written to or read from an
-- encrypted store is encrypted or decrypted and authenticated, so pages are what encryption
-- costs; a plain store gains too). Figures: docs/benchmarks.md "Store encryption at rest".
-- - outbox: no AUTOINCREMENT, so no `sqlite_sequence` page written per save. `seq` only orders
--   the outbox (a new row's rowid is always above every row present); nothing keeps a seq
--   after its row is acknowledged and deleted.
-- - person_labels carry their person's household: visits due (the first screen) reads the labels
--   and the households only, not every person through the persons key index (65 → 28 pages
--   read on the demo grid).
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

ALTER TABLE person_labels ADD COLUMN household_id TEXT NOT NULL DEFAULT '';
UPDATE person_labels
   SET household_id = coalesce((SELECT p.household_id FROM persons p WHERE p.id = person_labels.person_id), '');
