/** A fresh, migrated database on the local PostgreSQL for tests that need the store but not the whole stack. */
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { testAdminUrl } from '../../scripts/services.js';
import { ensureDatabaseExists, migrateDatabase, openDatabase, type Database } from '../../store/client.js';

export interface TestDatabase {
  url: string;
  database: Database;
  drop(): Promise<void>;
}

/** Creates `mofsim_test_<random>` on the test server (testAdminUrl) and migrates it. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const adminUrl = testAdminUrl();
  const name = `mofsim_test_${randomBytes(4).toString('hex')}`;
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  const url = u.toString();
  await ensureDatabaseExists(url);
  await migrateDatabase(url);
  const database = openDatabase(url, 4);
  return {
    url, database,
    async drop() {
      await database.close();
      const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
      await admin.unsafe(`drop database if exists "${name}" with (force)`).catch(() => {});
      await admin.end({ timeout: 5 });
    },
  };
}
