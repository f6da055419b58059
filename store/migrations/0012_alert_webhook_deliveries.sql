ALTER TABLE "webhook_deliveries" ALTER COLUMN "task_id" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "webhook_deliveries" ALTER COLUMN "event_id" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "webhook_deliveries" ADD COLUMN "alert_event_id" bigint;--> statement-breakpoint
ALTER TABLE "webhook_deliveries" ADD CONSTRAINT "webhook_deliveries_alert_event_id_alert_events_id_fk" FOREIGN KEY ("alert_event_id") REFERENCES "public"."alert_events"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "webhook_deliveries_alert_event_idx" ON "webhook_deliveries" USING btree ("alert_event_id");--> statement-breakpoint
ALTER TABLE "alert_events" DROP COLUMN "delivered_at";--> statement-breakpoint
ALTER TABLE "alert_events" DROP COLUMN "attempts";--> statement-breakpoint
ALTER TABLE "alert_events" DROP COLUMN "last_status_code";--> statement-breakpoint
ALTER TABLE "alert_events" DROP COLUMN "last_error";--> statement-breakpoint
ALTER TABLE "webhook_deliveries" ADD CONSTRAINT "webhook_deliveries_one_subject" CHECK (("webhook_deliveries"."task_id" is not null and "webhook_deliveries"."event_id" is not null) <> ("webhook_deliveries"."alert_event_id" is not null));