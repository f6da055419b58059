/**
 * The outbound address policy as a function (no server, no traffic): every form of a non-public address is refused,
 * public ones pass, allow-listed hosts pass, names are judged by every address they resolve to.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { refusedRange, vetUrl, type Resolve } from '../common/address-policy.js';

const table: Record<string, string[]> = {
  'hooks.example.org': ['93.184.215.14'],
  'rebind.example.org': ['93.184.215.14', '10.0.0.7'],
  'v6only.example.org': ['2606:2800:21f:cb07:6820:80da:af6b:8b2c'],
  'internal.example.org': ['fd12:3456:789a::1'],
};
const resolve: Resolve = async (host) => {
  const addrs = table[host];
  if (!addrs) throw Object.assign(new Error('ENOTFOUND'), { code: 'ENOTFOUND' });
  return addrs.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
};
const vet = (url: string, allow: string[] = []) => vetUrl(url, allow, resolve);

describe('address policy', { timeout: 30_000 }, () => {
  const refused: [string, string][] = [
    ['http://127.0.0.1/x', 'loopback'], ['http://2130706433/x', 'loopback'], ['http://0x7f000001/x', 'loopback'],
    ['http://0177.0.0.1/x', 'loopback'], ['http://127.1/x', 'loopback'], ['http://[::1]/x', 'loopback'],
    ['http://[::ffff:127.0.0.1]/x', 'loopback'], ['http://[::ffff:7f00:1]/x', 'loopback'], ['http://[::127.0.0.1]/x', 'loopback'],
    ['http://[64:ff9b::7f00:1]/x', 'loopback'], ['http://[64:ff9b::127.0.0.1]/x', 'loopback'], ['http://[::ffff:0:127.0.0.1]/x', 'loopback'],
    ['http://10.0.0.1/x', 'private'], ['http://172.16.5.4/x', 'private'], ['http://192.168.1.1/x', 'private'], ['http://167772161/x', 'private'],
    ['http://[::ffff:10.0.0.1]/x', 'private'], ['http://[::ffff:a00:1]/x', 'private'], ['http://[64:ff9b::a00:1]/x', 'private'],
    ['http://169.254.169.254/latest/meta-data', 'linkLocal'], ['http://[::ffff:169.254.169.254]/x', 'linkLocal'],
    ['http://[fe80::1]/x', 'linkLocal'], ['http://100.64.0.1/x', 'carrierGradeNat'],
    ['http://224.0.0.1/x', 'multicast'], ['http://239.255.255.250/x', 'multicast'], ['http://[ff02::1]/x', 'multicast'], ['http://[ff05::2]/x', 'multicast'],
    ['http://255.255.255.255/x', 'broadcast'], ['http://198.18.0.1/x', 'reserved'], ['http://198.19.255.1/x', 'reserved'],
    ['http://192.0.2.1/x', 'reserved'], ['http://240.0.0.1/x', 'reserved'], ['http://[2001:2::1]/x', 'benchmarking'],
    ['http://[2001:db8::1]/x', 'reserved'], ['http://0.0.0.0/x', 'unspecified'], ['http://0/x', 'unspecified'], ['http://[::]/x', 'unspecified'],
    ['http://[fd00::1]/x', 'uniqueLocal'], ['http://[fc00::1]/x', 'uniqueLocal'], ['http://[2002:7f00:1::1]/x', '6to4'],
    ['http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/x', 'teredo'],
  ];
  for (const [url, range] of refused) {
    it(`refuses ${url} (${range})`, async () => {
      const v = await vet(url);
      assert.ok('refused' in v, `${url} was accepted`);
      assert.match(v.refused, new RegExp(`\\b${range}\\b`));
    });
  }

  it('classifies addresses given as text in every form', () => {
    for (const a of ['127.0.0.1', '::ffff:127.0.0.1', '::ffff:7f00:1', '[::1]', 'fe80::1%eth0', '169.254.1.1', '10.1.2.3']) {
      assert.notEqual(refusedRange(a), null, a);
    }
    assert.equal(refusedRange('not-an-ip'), 'invalid');
    for (const a of ['93.184.215.14', '8.8.8.8', '2606:4700:4700::1111', '::ffff:93.184.215.14', '64:ff9b::808:808']) {
      assert.equal(refusedRange(a), null, a);
    }
  });

  it('passes public addresses and names, and connects to the address it checked', async () => {
    const byIp = await vet('https://93.184.215.14/hook');
    assert.ok(!('refused' in byIp));
    assert.equal(byIp.address, '93.184.215.14');
    const byName = await vet('https://hooks.example.org:8443/hook?x=1');
    assert.ok(!('refused' in byName));
    assert.deepEqual([byName.address, byName.family, byName.url.host], ['93.184.215.14', 4, 'hooks.example.org:8443']);
    const v6 = await vet('https://v6only.example.org/hook');
    assert.ok(!('refused' in v6) && v6.family === 6);
  });

  it('refuses a name when any address it resolves to is not public, and names that do not resolve', async () => {
    for (const url of ['https://rebind.example.org/x', 'https://internal.example.org/x', 'https://nowhere.example.org/x', 'http://localhost:1/x', 'http://a.localhost/x']) {
      assert.ok('refused' in (await vet(url)), url);
    }
  });

  it('refuses other schemes and URLs with credentials', async () => {
    for (const url of ['ftp://93.184.215.14/x', 'file:///etc/passwd', 'gopher://93.184.215.14/', 'https://u:p@hooks.example.org/x', 'not a url']) {
      assert.ok('refused' in (await vet(url)), url);
    }
  });

  it('lets allow-listed hosts through whatever their address', async () => {
    const v = await vet('http://127.0.0.1:9/x', ['127.0.0.1']);
    assert.ok(!('refused' in v));
    assert.equal(v.address, '127.0.0.1');
    assert.ok(!('refused' in (await vet('http://[::1]:9/x', ['::1']))));
    assert.ok(!('refused' in (await vet('http://internal.example.org/x', ['internal.example.org']))));
    // The allow-list names hosts, not ranges: another loopback form stays refused.
    assert.ok('refused' in (await vet('http://[::ffff:127.0.0.1]:9/x', ['127.0.0.1'])));
  });
});
