CREATE TABLE "line_counts" (
	"priority_rank" integer NOT NULL,
	"level" smallint NOT NULL,
	"bucket" bigint NOT NULL,
	"waiting" integer DEFAULT 0 NOT NULL,
	CONSTRAINT "line_counts_priority_rank_level_bucket_pk" PRIMARY KEY("priority_rank","level","bucket")
);
--> statement-breakpoint
DROP INDEX "tasks_line_idx";--> statement-breakpoint
DROP INDEX "tasks_fair_line_idx";--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "line_no" bigserial NOT NULL;--> statement-breakpoint
CREATE INDEX "task_runs_completed_idx" ON "task_runs" USING btree ("task_type","model","id") WHERE outcome = 'completed';--> statement-breakpoint
CREATE INDEX "tasks_waiting_idx" ON "tasks" USING btree ("priority_rank","line_no") WHERE status in ('PENDING', 'QUEUED');--> statement-breakpoint
CREATE INDEX "tasks_line_idx" ON "tasks" USING btree ("priority_rank","line_no") WHERE wait_seq is not null;--> statement-breakpoint
CREATE INDEX "tasks_fair_line_idx" ON "tasks" USING btree ("priority_rank","fair_key","line_no") WHERE wait_seq is not null;--> statement-breakpoint
-- Tasks not started yet get their tickets in age order (the new column numbered existing rows in storage order).
WITH o AS (SELECT id, row_number() OVER (ORDER BY created_at, id) AS rn FROM tasks WHERE status IN ('PENDING', 'QUEUED', 'PAUSED')),
     b AS (SELECT coalesce(max(line_no), 0) AS base FROM tasks)
UPDATE tasks t SET line_no = b.base + o.rn FROM o, b WHERE t.id = o.id;--> statement-breakpoint
SELECT setval(pg_get_serial_sequence('tasks', 'line_no'), (SELECT coalesce(max(line_no), 0) + 1 FROM tasks), false);--> statement-breakpoint
-- The counts of tasks waiting to start (status PENDING or QUEUED: WAITING_STATUSES in store/task-status.ts) by
-- priority rank and ticket range; the coarse rows (level 1) before the fine ones (level 0) in every writer.
INSERT INTO line_counts (priority_rank, level, bucket, waiting)
  SELECT priority_rank, 1, line_no >> 20, count(*) FROM tasks WHERE status IN ('PENDING', 'QUEUED') GROUP BY priority_rank, line_no >> 20
  UNION ALL
  SELECT priority_rank, 0, line_no >> 10, count(*) FROM tasks WHERE status IN ('PENDING', 'QUEUED') GROUP BY priority_rank, line_no >> 10;--> statement-breakpoint
CREATE FUNCTION line_counts_add(r integer, n bigint, d integer) RETURNS void LANGUAGE sql AS $$
  INSERT INTO line_counts (priority_rank, level, bucket, waiting) VALUES (r, 1, n >> 20, d), (r, 0, n >> 10, d)
  ON CONFLICT (priority_rank, level, bucket) DO UPDATE SET waiting = line_counts.waiting + excluded.waiting
$$;--> statement-breakpoint
-- A waiting task whose priority changes moves between two ranks: the lower rank's rows first, as in every writer.
CREATE FUNCTION tasks_line_count_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND OLD.status IN ('PENDING', 'QUEUED') AND NEW.status IN ('PENDING', 'QUEUED') AND NEW.priority_rank < OLD.priority_rank THEN
    PERFORM line_counts_add(NEW.priority_rank, NEW.line_no, 1);
    PERFORM line_counts_add(OLD.priority_rank, OLD.line_no, -1);
    RETURN NULL;
  END IF;
  IF TG_OP <> 'INSERT' AND OLD.status IN ('PENDING', 'QUEUED') THEN PERFORM line_counts_add(OLD.priority_rank, OLD.line_no, -1); END IF;
  IF TG_OP <> 'DELETE' AND NEW.status IN ('PENDING', 'QUEUED') THEN PERFORM line_counts_add(NEW.priority_rank, NEW.line_no, 1); END IF;
  RETURN NULL;
END $$;--> statement-breakpoint
-- Inserts (a batch or a campaign writes hundreds of rows in one statement) are added up once per statement.
CREATE FUNCTION tasks_line_count_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO line_counts (priority_rank, level, bucket, waiting)
    SELECT priority_rank, 1, line_no >> 20, count(*) FROM added WHERE status IN ('PENDING', 'QUEUED') GROUP BY 1, 3 ORDER BY 1, 3
    ON CONFLICT (priority_rank, level, bucket) DO UPDATE SET waiting = line_counts.waiting + excluded.waiting;
  INSERT INTO line_counts (priority_rank, level, bucket, waiting)
    SELECT priority_rank, 0, line_no >> 10, count(*) FROM added WHERE status IN ('PENDING', 'QUEUED') GROUP BY 1, 3 ORDER BY 1, 3
    ON CONFLICT (priority_rank, level, bucket) DO UPDATE SET waiting = line_counts.waiting + excluded.waiting;
  RETURN NULL;
END $$;--> statement-breakpoint
CREATE TRIGGER tasks_line_count_insert AFTER INSERT ON tasks REFERENCING NEW TABLE AS added
  FOR EACH STATEMENT EXECUTE FUNCTION tasks_line_count_inserted();--> statement-breakpoint
-- Status changes are counted at commit (deferred): a transaction that moves many tasks then takes the counts only
-- after it holds every task row it changes, so it never waits for a task row while holding a count.
CREATE CONSTRAINT TRIGGER tasks_line_count_update AFTER UPDATE ON tasks DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
  WHEN ((OLD.status IN ('PENDING', 'QUEUED')) <> (NEW.status IN ('PENDING', 'QUEUED'))
    OR (NEW.status IN ('PENDING', 'QUEUED') AND OLD.priority_rank <> NEW.priority_rank))
  EXECUTE FUNCTION tasks_line_count_row();--> statement-breakpoint
CREATE CONSTRAINT TRIGGER tasks_line_count_delete AFTER DELETE ON tasks DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
  WHEN (OLD.status IN ('PENDING', 'QUEUED')) EXECUTE FUNCTION tasks_line_count_row();
