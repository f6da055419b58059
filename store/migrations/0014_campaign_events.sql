CREATE TABLE "campaign_events" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"campaign_id" uuid NOT NULL,
	"type" text NOT NULL,
	"data" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"webhook" boolean DEFAULT false NOT NULL,
	"dispatched_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "webhook_deliveries" DROP CONSTRAINT "webhook_deliveries_one_subject";--> statement-breakpoint
ALTER TABLE "webhook_deliveries" ADD COLUMN "campaign_event_id" bigint;--> statement-breakpoint
ALTER TABLE "campaign_events" ADD CONSTRAINT "campaign_events_campaign_id_campaigns_id_fk" FOREIGN KEY ("campaign_id") REFERENCES "public"."campaigns"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "campaign_events_campaign_idx" ON "campaign_events" USING btree ("campaign_id","id");--> statement-breakpoint
CREATE INDEX "campaign_events_undispatched_idx" ON "campaign_events" USING btree ("campaign_id","id") WHERE "campaign_events"."webhook" and "campaign_events"."dispatched_at" is null;--> statement-breakpoint
ALTER TABLE "webhook_deliveries" ADD CONSTRAINT "webhook_deliveries_campaign_event_id_campaign_events_id_fk" FOREIGN KEY ("campaign_event_id") REFERENCES "public"."campaign_events"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "webhook_deliveries_campaign_event_idx" ON "webhook_deliveries" USING btree ("campaign_event_id");--> statement-breakpoint
ALTER TABLE "webhook_deliveries" ADD CONSTRAINT "webhook_deliveries_one_subject" CHECK (("webhook_deliveries"."task_id" is not null and "webhook_deliveries"."event_id" is not null)::int + ("webhook_deliveries"."alert_event_id" is not null)::int + ("webhook_deliveries"."campaign_event_id" is not null)::int = 1);