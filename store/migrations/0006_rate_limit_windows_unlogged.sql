-- Custom SQL migration file, put your code below! --
-- Rate-limit counters need no durability: unlogged, an upsert writes no WAL and waits for no fsync (every
-- authenticated request makes one). After a crash Postgres empties the table, which only resets the windows.
-- (drizzle's schema cannot express UNLOGGED, hence this custom migration.)
ALTER TABLE "rate_limit_windows" SET UNLOGGED;
