/**
 * The read-only database role Grafana's PostgreSQL datasource uses (grafana/provisioning/datasources/mofsim.yml):
 * it reads benchmark results — the tasks' science columns and structures — and nothing else. Not `tasks.options`
 * (webhook secrets live there), not `owner_id`, not `api_keys` (key hashes). Every transaction it opens is read-only.
 */
import type postgres from 'postgres';

/** The columns of `tasks` the role may read. */
export const READONLY_TASK_COLUMNS = [
  'id', 'task_type', 'status', 'priority', 'model', 'structure_id', 'structure_name', 'parameters', 'progress', 'result',
  'error_type', 'error_message', 'worker_id', 'gpu_id', 'attempts', 'created_at', 'queued_at', 'started_at', 'completed_at',
  'duration_seconds',
] as const;

/** Creates or updates the role (idempotent; run after migrations: it grants on their tables). */
export async function ensureReadOnlyRole(sql: postgres.Sql, role: string, password: string): Promise<void> {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(role)) throw new Error(`invalid role name ${role}`);
  await sql.begin(async (tx) => {
    const [exists] = await tx`select 1 from pg_roles where rolname = ${role}`;
    // Identifiers and the password literal are quoted by Postgres itself (format %I / %L): nothing is spliced raw.
    const [{ ddl }] = await tx<{ ddl: string }[]>`select format(${exists ? 'alter role %I' : 'create role %I'} || ' login password %L nosuperuser nocreatedb nocreaterole', ${role}::text, ${password}::text) as ddl`;
    await tx.unsafe(ddl);
    const [{ q }] = await tx<{ q: string }[]>`select format('%I', ${role}::text) as q`;
    await tx.unsafe(`revoke all on all tables in schema public from ${q}`);
    await tx.unsafe(`grant usage on schema public to ${q}`);
    await tx.unsafe(`grant select (${READONLY_TASK_COLUMNS.join(', ')}) on tasks to ${q}`);
    await tx.unsafe(`grant select on structures to ${q}`);
    await tx.unsafe(`alter role ${q} set default_transaction_read_only = on`);
  });
}
