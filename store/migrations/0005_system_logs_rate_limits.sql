CREATE TABLE "rate_limit_windows" (
	"key" text PRIMARY KEY NOT NULL,
	"window_start" timestamp with time zone NOT NULL,
	"count" integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE "system_logs" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"level" text NOT NULL,
	"source" text NOT NULL,
	"logger" text NOT NULL,
	"message" text NOT NULL,
	"worker_id" text,
	"task_id" text,
	"request_id" text,
	"extra" jsonb DEFAULT '{}'::jsonb NOT NULL
);
--> statement-breakpoint
CREATE INDEX "system_logs_created_at_idx" ON "system_logs" USING btree ("created_at");--> statement-breakpoint
CREATE INDEX "system_logs_task_idx" ON "system_logs" USING btree ("task_id") WHERE "system_logs"."task_id" is not null;--> statement-breakpoint
CREATE INDEX "system_logs_worker_idx" ON "system_logs" USING btree ("worker_id") WHERE "system_logs"."worker_id" is not null;