-- The leaderboard: the latest score of each model × weights × protocol × metric (a later campaign replaces an
-- earlier one; the classical baselines are rows with source 'reference'). Grafana's "Benchmark results" dashboard
-- reads it as the role mofsim_grafana, which may read this view and nothing else.
CREATE VIEW "leaderboard" AS
SELECT DISTINCT ON ("model", "weights_sha256", "protocol", "metric")
  "model", "label", "weights_sha256", "protocol", "metric", "value", "n_structures", "source", "campaign_id", "computed_at"
FROM "benchmark_scores"
ORDER BY "model", "weights_sha256", "protocol", "metric", "computed_at" DESC, "id" DESC;
--> statement-breakpoint
-- A role is cluster-wide: several databases (or test runs) may create it at once, so a duplicate is fine. It has no
-- login until a deployment gives it one: ALTER ROLE mofsim_grafana LOGIN PASSWORD '…'.
DO $$ BEGIN
  CREATE ROLE "mofsim_grafana" NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$;
--> statement-breakpoint
GRANT USAGE ON SCHEMA public TO "mofsim_grafana";
--> statement-breakpoint
GRANT SELECT ON "leaderboard" TO "mofsim_grafana";
