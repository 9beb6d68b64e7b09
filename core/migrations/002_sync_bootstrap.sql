-- Schema version 2: a scope being bootstrapped from snapshots remembers the last document it
-- received, so an interrupted bootstrap resumes where it stopped (see docs/protocol.md).
ALTER TABLE sync_cursors ADD COLUMN snapshot_after TEXT;
