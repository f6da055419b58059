/**
 * `npm run keys -- <command>`: API key administration straight on the database (for the first admin key, when no
 * admin key exists yet to call POST /api/v1/keys with).
 *   create-admin <name>         prints a new admin key (shown once)
 *   create <name> [admin|user]  prints a new key
 *   list                        lists keys (no secrets)
 *   revoke <key id>
 */
import { loadConfig } from '../common/config.js';
import { migrateDatabase, openDatabase } from '../store/client.js';
import { createKey, keyToApi, listKeys, revokeKey, type Role } from '../server/services/keys.js';

const config = loadConfig();
const [cmd, arg, role] = process.argv.slice(2);
await migrateDatabase(config.DATABASE_URL);
const { db, close } = openDatabase(config.DATABASE_URL, 1);
try {
  if (cmd === 'create-admin' || cmd === 'create') {
    const r: Role = cmd === 'create-admin' || role === 'admin' ? 'admin' : 'user';
    const { row, key } = await createKey(db, { name: arg ?? `${r}-key`, role: r }, config.MOFSIM_DEFAULT_RATE_LIMIT);
    console.error(`created ${r} key ${row.prefix} (id ${row.id}); store it now, it is not shown again:`);
    console.log(key);
  } else if (cmd === 'list') {
    console.table((await listKeys(db)).map(keyToApi).map(({ id, prefix, name, role: ro, revoked_at }) => ({ id, prefix, name, role: ro, revoked_at })));
  } else if (cmd === 'revoke' && arg) {
    console.log(keyToApi(await revokeKey(db, arg)));
  } else {
    console.error('usage: npm run keys -- create-admin <name> | create <name> [admin|user] | list | revoke <key id>');
    process.exitCode = 2;
  }
} finally {
  await close();
}
