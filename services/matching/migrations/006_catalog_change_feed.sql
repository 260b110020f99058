-- The catalog caches' exact change feed (issue 15; catalog/cache.py). Each coach and job lead row
-- carries the id of the transaction that last changed it. A cache reads the rows changed by
-- transactions at or after its watermark, then moves the watermark to the xmin of the snapshot it
-- read with: every transaction below that xmin had ended, so nothing it wrote can appear later,
-- and every one still running is at or above it, so its rows are read once it has committed,
-- however long it took. A timestamp or a sequence is not exact: a slow transaction can commit a
-- value below one a reader has already passed. xid8 does not wrap around.
-- Why not a change-log table: the row itself is the latest state, so there is nothing to prune.
ALTER TABLE coaches ADD COLUMN changed_by xid8 NOT NULL DEFAULT pg_current_xact_id();
ALTER TABLE job_leads ADD COLUMN changed_by xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX coaches_changed_by_idx ON coaches (changed_by);
CREATE INDEX job_leads_changed_by_idx ON job_leads (changed_by);
-- updated_at stays for operators; nothing reads by it any more.
DROP INDEX coaches_updated_idx;
DROP INDEX job_leads_updated_idx;
