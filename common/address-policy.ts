/**
 * Which network addresses the server may send requests to (webhook callbacks, alert notifications), decided in one
 * place with ipaddr.js's range tables rather than hand-written prefixes. Every textual form is normalised first:
 * IPv4 in decimal, hex, octal or short form (by the WHATWG URL parser and ipaddr.js), and IPv6 forms that carry an
 * IPv4 address (IPv4-mapped `::ffff:a.b.c.d`, IPv4-translated `::ffff:0:a.b.c.d`, the deprecated IPv4-compatible
 * `::a.b.c.d`, NAT64 `64:ff9b::/96`), which are judged by that IPv4 address. Only global unicast passes: loopback,
 * private, carrier-grade NAT, link-local, multicast, broadcast, reserved, documentation, benchmarking (198.18/15,
 * 2001:2::/48), unique-local, 6to4/Teredo tunnels and unspecified are refused unless the host is allow-listed.
 *
 * A host name is resolved once; the request then connects to the address that was checked (`pinnedPost`), so a
 * DNS answer that changes between the check and the connection (DNS rebinding) cannot redirect it.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

/** The IPv4 address an IPv6 address stands for, when it embeds one (mapped, translated, compatible, NAT64). */
function embeddedIPv4(v6: ipaddr.IPv6): ipaddr.IPv4 | null {
  const range = v6.range();
  const p = v6.parts;
  const low32 = () => new ipaddr.IPv4([p[6]! >> 8, p[6]! & 0xff, p[7]! >> 8, p[7]! & 0xff]);
  if (range === 'ipv4Mapped' || range === 'rfc6145') return low32();
  // 64:ff9b::/96 (RFC 6052) embeds the IPv4 address in the last 32 bits; 64:ff9b:1::/48 (RFC 8215) is local use.
  if (range === 'rfc6052' && p[2] === 0 && p[3] === 0 && p[4] === 0 && p[5] === 0) return low32();
  // ::a.b.c.d (deprecated IPv4-compatible): the first 96 bits zero, but not :: or ::1 themselves.
  if (p.slice(0, 6).every((x) => x === 0) && (p[6] !== 0 || p[7]! > 1)) return low32();
  return null;
}

/**
 * The name of the range that makes `address` refused (e.g. `loopback`, `private`, `linkLocal`), or null when it is
 * a global unicast address. An unparsable address is refused as `invalid`.
 */
export function refusedRange(address: string): string | null {
  let ip: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    ip = ipaddr.parse(address.replace(/^\[|\]$/g, '').replace(/%.*$/, ''));
  } catch {
    return 'invalid';
  }
  if (ip.kind() === 'ipv6') {
    const v4 = embeddedIPv4(ip as ipaddr.IPv6);
    if (v4) ip = v4;
  }
  const range = ip.range();
  return range === 'unicast' ? null : range;
}

/** A vetted destination: the URL and the one address its host was found to have. */
export interface VettedTarget {
  url: URL;
  address: string;
  family: 4 | 6;
}

/** What `vetUrl` needs from the resolver (tests give a fixed table). */
export type Resolve = (host: string) => Promise<{ address: string; family: number }[]>;
const systemResolve: Resolve = (host) => dnsLookup(host, { all: true, verbatim: true });

/**
 * Checks an outbound http(s) URL against the policy: `{refused}` with the reason, or the target to connect to.
 * A name must resolve, and every address it resolves to must pass (one bad answer refuses it).
 * `allowHosts` (lower-case names or addresses, `MOFSIM_WEBHOOK_ALLOW_HOSTS`) skip the range check.
 */
export async function vetUrl(raw: string, allowHosts: readonly string[], resolve: Resolve = systemResolve): Promise<VettedTarget | { refused: string }> {
  let url: URL;
  try { url = new URL(raw); } catch { return { refused: 'url is not a valid URL' }; }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return { refused: `url must be http(s) (got ${url.protocol})` };
  if (url.username || url.password) return { refused: 'url must not carry credentials' };
  // The WHATWG parser has already turned 2130706433, 0x7f000001, 0177.0.0.1 and 127.1 into 127.0.0.1.
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const allowed = allowHosts.includes(host);
  let answers: { address: string; family: number }[];
  if (isIP(host)) {
    answers = [{ address: host, family: isIP(host) }];
  } else {
    if (!allowed && (host === 'localhost' || host.endsWith('.localhost'))) return { refused: `host ${host} is loopback` };
    try { answers = await resolve(host); } catch { return { refused: `host ${host} does not resolve` }; }
    if (!answers.length) return { refused: `host ${host} does not resolve` };
  }
  if (!allowed) {
    for (const a of answers) {
      const range = refusedRange(a.address);
      if (range) return { refused: `host ${host} is a ${range} address (${a.address}); only public addresses receive requests` };
    }
  }
  const first = answers[0]!;
  return { url, address: first.address, family: first.family === 6 ? 6 : 4 };
}

/**
 * POSTs `body` to a vetted target, connecting to its checked address (the Host header and TLS server name stay
 * the URL's host). Redirects are not followed. Resolves with the status code; rejects on network errors/timeouts.
 */
export function pinnedPost(target: VettedTarget, headers: Record<string, string>, body: string, timeoutMs: number): Promise<number> {
  const { url, address, family } = target;
  const https = url.protocol === 'https:';
  return new Promise((resolve, reject) => {
    const req = (https ? httpsRequest : httpRequest)({
      host: address,
      family,
      port: url.port || (https ? 443 : 80),
      path: `${url.pathname}${url.search}`,
      method: 'POST',
      headers: { ...headers, host: url.host, 'content-length': String(Buffer.byteLength(body)) },
      ...(https && !isIP(url.hostname.replace(/^\[|\]$/g, '')) ? { servername: url.hostname } : {}),
      timeout: timeoutMs,
    }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}
