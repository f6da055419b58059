/**
 * The login of the read-only role Grafana's PostgreSQL datasource uses (grafana/provisioning/datasources/mofsim.yml).
 * Migration 0011 creates `mofsim_grafana` without a login and lets it read the `leaderboard` view and nothing else;
 * this gives the configured role (that one, or another name) a password and that same single grant, and makes every
 * transaction it opens read-only.
 */
import type postgres from 'postgres';

/** Creates or updates the role (idempotent; run after migrations). */
export async function ensureReadOnlyRole(sql: postgres.Sql, role: string, password: string): Promise<void> {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(role)) throw new Error(`invalid role name ${role}`);
  await sql.begin(async (tx) => {
    const [exists] = await tx`select 1 from pg_roles where rolname = ${role}`;
    // The identifier and the password literal are quoted by Postgres itself (format %I / %L), never spliced raw.
    const [{ ddl }] = await tx<{ ddl: string }[]>`select format(${exists ? 'alter role %I' : 'create role %I'} || ' login password %L nosuperuser nocreatedb nocreaterole', ${role}::text, ${password}::text) as ddl`;
    await tx.unsafe(ddl);
    const [{ q }] = await tx<{ q: string }[]>`select format('%I', ${role}::text) as q`;
    await tx.unsafe(`grant usage on schema public to ${q}`);
    await tx.unsafe(`grant select on leaderboard to ${q}`);
    await tx.unsafe(`alter role ${q} set default_transaction_read_only = on`);
  });
}
