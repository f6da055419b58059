CREATE TABLE "campaigns" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" text NOT NULL,
	"owner_id" uuid,
	"models" jsonb NOT NULL,
	"structures" jsonb NOT NULL,
	"structure_spec" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"task_spec" jsonb NOT NULL,
	"options" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"status" text DEFAULT 'PENDING' NOT NULL,
	"total_tasks" integer DEFAULT 0 NOT NULL,
	"counts" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"scores" jsonb,
	"error_message" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"started_at" timestamp with time zone,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "campaign_id" uuid;--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "campaign_key" text;--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "input_task_id" uuid;--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "input_file" text;--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "cache_key" text;--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "reused_from" uuid;--> statement-breakpoint
CREATE INDEX "campaigns_owner_idx" ON "campaigns" USING btree ("owner_id","created_at");--> statement-breakpoint
CREATE INDEX "campaigns_status_idx" ON "campaigns" USING btree ("status");--> statement-breakpoint
CREATE INDEX "tasks_campaign_idx" ON "tasks" USING btree ("campaign_id","status");--> statement-breakpoint
CREATE UNIQUE INDEX "tasks_campaign_key_idx" ON "tasks" USING btree ("campaign_id","campaign_key");--> statement-breakpoint
CREATE INDEX "tasks_input_task_idx" ON "tasks" USING btree ("input_task_id") WHERE "tasks"."input_task_id" is not null;--> statement-breakpoint
CREATE INDEX "tasks_cache_key_idx" ON "tasks" USING btree ("cache_key","completed_at") WHERE "tasks"."cache_key" is not null and "tasks"."status" = 'COMPLETED';