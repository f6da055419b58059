CREATE TABLE "benchmark_scores" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"campaign_id" uuid,
	"source" text NOT NULL,
	"model" text NOT NULL,
	"label" text NOT NULL,
	"weights_sha256" text DEFAULT '' NOT NULL,
	"protocol" text NOT NULL,
	"metric" text NOT NULL,
	"value" double precision,
	"n_structures" integer NOT NULL,
	"computed_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE INDEX "benchmark_scores_key_idx" ON "benchmark_scores" USING btree ("model","weights_sha256","protocol","metric","computed_at");--> statement-breakpoint
CREATE INDEX "benchmark_scores_campaign_idx" ON "benchmark_scores" USING btree ("campaign_id");