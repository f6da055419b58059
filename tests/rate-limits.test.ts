/**
 * Rate limits shared by API processes: two API apps on one database (each with its own connection pool, as two
 * processes would have) enforce one key's request rate and one address's failed-authentication limit together.
 * With per-process counters each app would allow the full limit.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { hitWindow, pruneWindows } from '../server/rate-limits.js';
import { api, startTestStack, type TestStack } from './helpers/stack.js';

let stack: TestStack;
let other: { baseUrl: string; stop(): Promise<void> };
const FAIL_WINDOW_S = 5;

before(async () => {
  stack = await startTestStack({ workers: 0, env: { MOFSIM_TRUST_PROXY: 'true', MOFSIM_AUTH_FAIL_LIMIT: '4', MOFSIM_AUTH_FAIL_WINDOW_S: String(FAIL_WINDOW_S) } });
  other = await stack.startApi();
});
after(async () => { await stack?.stop(); });

describe('rate limits across API processes', () => {
  it("counts a key's requests once across both API processes: the limit holds, with headers", async () => {
    const created = await api(stack.baseUrl, '/api/v1/keys', {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'shared', rate_limit_per_minute: 4 }),
    }, { key: stack.adminKey });
    const key = created.body.data.key as string;
    const answers = [];
    for (let i = 0; i < 6; i++) {
      const res = await api(i % 2 ? other.baseUrl : stack.baseUrl, '/api/v1/keys/me', {}, { key });
      answers.push({ status: res.status, limit: res.headers.get('x-ratelimit-limit'), remaining: res.headers.get('x-ratelimit-remaining'), retry: res.headers.get('retry-after') });
    }
    assert.deepEqual(answers.map((a) => a.status), [200, 200, 200, 200, 429, 429]);
    assert.deepEqual(answers.map((a) => a.remaining), ['3', '2', '1', '0', '0', '0']);
    assert.ok(answers.every((a) => a.limit === '4'));
    for (const a of answers.slice(4)) assert.ok(Number(a.retry) >= 1 && Number(a.retry) <= 60, `Retry-After ${a.retry}`);
    // Another key is not affected.
    assert.equal((await api(other.baseUrl, '/api/v1/keys/me')).status, 200);
  });

  it('blocks an address after the failed-authentication limit on whichever process it tries next, until the window ends', async () => {
    const from = { 'x-forwarded-for': '198.51.100.23' };
    const codes = [];
    for (let i = 0; i < 6; i++) {
      const res = await api(i % 2 ? other.baseUrl : stack.baseUrl, '/api/v1/tasks', { headers: { ...from, authorization: `Bearer wrong-key-${i}-xxxxxxxx` } }, { key: null });
      codes.push(res.status);
    }
    assert.deepEqual(codes, [401, 401, 401, 401, 429, 429]);
    for (const base of [stack.baseUrl, other.baseUrl]) {
      const right = await api(base, '/api/v1/keys/me', { headers: { ...from, authorization: `Bearer ${stack.userKey}` } }, { key: null });
      assert.equal(right.status, 429, 'a right key is refused too while the address is blocked');
      assert.equal(right.body.code, 42903);
      assert.ok(Number(right.headers.get('retry-after')) >= 1);
    }
    assert.equal((await api(other.baseUrl, '/api/v1/keys/me', { headers: { 'x-forwarded-for': '198.51.100.99' } })).status, 200, 'other addresses are unaffected');
    await new Promise((r) => setTimeout(r, FAIL_WINDOW_S * 1000 + 300));
    const later = await api(other.baseUrl, '/api/v1/keys/me', { headers: { ...from, authorization: `Bearer ${stack.userKey}` } }, { key: null });
    assert.equal(later.status, 200, 'a new window once the old one ended');
  });

  it('starts a fresh window after the old one and prunes windows that ended', async () => {
    const { db } = stack.database;
    const first = await hitWindow(db, 'test:a', 1);
    assert.equal(first.count, 1);
    assert.ok(first.resetSeconds > 0.5 && first.resetSeconds <= 1, String(first.resetSeconds));
    assert.equal((await hitWindow(db, 'test:a', 1)).count, 2);
    await new Promise((r) => setTimeout(r, 1100));
    assert.equal((await hitWindow(db, 'test:a', 1)).count, 1, 'the ended window starts over');
    await new Promise((r) => setTimeout(r, 1100));
    assert.ok((await pruneWindows(db, 1)) >= 1);
    assert.equal((await stack.database.sql`select 1 from rate_limit_windows where key = 'test:a'`).length, 0);
  });
});
