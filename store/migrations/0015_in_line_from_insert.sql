-- Tasks are now put in the scheduler's line when they are inserted, and a workflow's first wait no longer asks for
-- a slot itself. Tasks queued before this version whose workflow has not yet asked (no worker was running, or the
-- outbox had not started it) are put in line here, as the request their new workflow will wait on.
UPDATE "tasks" SET "wait_seq" = 1
WHERE "status" = 'QUEUED' AND "wait_seq" IS NULL AND "started_at" IS NULL AND "attempts" = 0
  AND NOT EXISTS (SELECT 1 FROM "task_assignments" a WHERE a."task_id" = "tasks"."id");
