ALTER TABLE "task_assignments" ADD COLUMN "seq" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "task_assignments" ADD COLUMN "signalled_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "priority_rank" integer GENERATED ALWAYS AS (case priority when 'CRITICAL' then 1 when 'HIGH' then 2 when 'NORMAL' then 3 when 'LOW' then 4 else 3 end) STORED NOT NULL;--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "fair_key" text GENERATED ALWAYS AS (coalesce(owner_id::text, 'anonymous')) STORED NOT NULL;--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "wait_seq" integer;--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "avoid_worker_id" text;--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "bypassed" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "workflow_pending" boolean DEFAULT false NOT NULL;--> statement-breakpoint
CREATE INDEX "task_assignments_unsignalled_idx" ON "task_assignments" USING btree ("assigned_at") WHERE signalled_at is null;--> statement-breakpoint
CREATE INDEX "task_runs_started_idx" ON "task_runs" USING btree ("started_at");--> statement-breakpoint
CREATE INDEX "task_runs_open_idx" ON "task_runs" USING btree ("started_at") WHERE ended_at is null;--> statement-breakpoint
CREATE INDEX "tasks_line_idx" ON "tasks" USING btree ("priority_rank","created_at","id") WHERE wait_seq is not null;--> statement-breakpoint
CREATE INDEX "tasks_fair_line_idx" ON "tasks" USING btree ("priority_rank","fair_key","created_at","id") WHERE wait_seq is not null;--> statement-breakpoint
CREATE INDEX "tasks_workflow_pending_idx" ON "tasks" USING btree ("created_at") WHERE workflow_pending;