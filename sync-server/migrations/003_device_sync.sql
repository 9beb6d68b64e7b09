-- 3: district administration (issue 11): when each device last synced, with which app.
ALTER TABLE devices ADD COLUMN last_sync_at INTEGER;
ALTER TABLE devices ADD COLUMN app_version TEXT;
