/**
 * The client's address behind a reverse proxy (issue 6: "trusted forwarded headers only
 * when configured"). `X-Forwarded-For` and `Forwarded` (RFC 7239) are believed only when
 * the TCP peer is in the trusted-proxy list; otherwise anyone could pick the address that
 * the per-address session cap and the audit log see.
 *
 * Integration (server.ts, websocket-front.ts): build `const proxies = parseTrustedProxies(config.trustedProxies)`
 * once at start (it throws RangeError with the bad entry for the config validator), then
 * per upgrade request:
 * `const client = resolveClientAddress({ peerAddress: req.socket.remoteAddress, headers: req.headers, trustedProxies: proxies })`.
 */
import { BlockList, isIP, SocketAddress } from 'node:net';

/** IPv4-mapped IPv6 (`::ffff:a.b.c.d`) as Node's SocketAddress prints it. */
const MAPPED_IPV4 = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/;

/**
 * The canonical text of an IPv4 or IPv6 address: dotted IPv4, or RFC 5952 compressed
 * lower-case IPv6 (Node's `SocketAddress`); `::ffff:a.b.c.d` folds to `a.b.c.d`. Brackets are
 * stripped; zone ids are refused. Null when `text` is not an address.
 */
export function canonicalIp(text: string): string | null {
  let s = text.trim();
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  const family = isIP(s);
  if (family === 0 || s.includes('%')) return null;
  const address = new SocketAddress({ address: s, family: family === 4 ? 'ipv4' : 'ipv6' }).address;
  return MAPPED_IPV4.exec(address)?.[1] ?? address;
}

/** The `node:net` family name of a canonical address. */
export function ipFamily(address: string): 'ipv4' | 'ipv6' {
  return isIP(address) === 4 ? 'ipv4' : 'ipv6';
}

/**
 * Adds `a.b.c.d/n`, `x::y/n` or a bare address (a /32 or /128) to `list`; IPv4-mapped blocks
 * (`::ffff:10.0.0.0/104`) match IPv4 addresses too (BlockList does). False when invalid.
 */
export function addCidr(list: BlockList, text: string): boolean {
  const slash = text.indexOf('/');
  const raw = (slash < 0 ? text : text.slice(0, slash)).trim();
  const family = isIP(raw);
  if (family === 0 || raw.includes('%')) return false;
  const max = family === 4 ? 32 : 128;
  const prefix = slash < 0 ? String(max) : text.slice(slash + 1);
  if (!/^[0-9]{1,3}$/.test(prefix) || Number(prefix) > max) return false;
  list.addSubnet(raw, Number(prefix), family === 4 ? 'ipv4' : 'ipv6');
  return true;
}

/** A parsed trusted-proxy list. */
export interface TrustedProxies {
  /** The blocks, as `node:net` matches them. */
  readonly blockList: BlockList;
  /** True when the address text parses and lies in one of the blocks. */
  contains(address: string): boolean;
}

/**
 * Parses the configured trusted proxies (addresses or CIDR blocks; also `loopback` for
 * 127.0.0.0/8 and ::1). Throws RangeError naming the first invalid entry.
 */
export function parseTrustedProxies(list: readonly string[]): TrustedProxies {
  const blockList = new BlockList();
  for (const entry of list) {
    if (entry === 'loopback') {
      blockList.addSubnet('127.0.0.0', 8, 'ipv4');
      blockList.addAddress('::1', 'ipv6');
    } else if (!addCidr(blockList, entry)) {
      throw new RangeError(`trusted proxy "${entry}" is not an IP address or CIDR block`);
    }
  }
  return {
    blockList,
    contains(address) {
      const ip = canonicalIp(address);
      return ip !== null && blockList.check(ip, ipFamily(ip));
    },
  };
}

/** Headers as Node's `IncomingMessage.headers` gives them. */
export type ForwardedHeaders = Readonly<Record<string, string | readonly string[] | undefined>>;

function headerText(headers: ForwardedHeaders, name: string): string | undefined {
  const v = headers[name];
  if (v === undefined) return undefined;
  return typeof v === 'string' ? v : v.join(',');
}

/** The `for=` values of a `Forwarded` header (RFC 7239 §4), in order; ports and brackets stripped. */
export function parseForwardedFor(value: string): string[] {
  const out: string[] = [];
  for (const element of value.split(',')) {
    for (const pair of element.split(';')) {
      const eq = pair.indexOf('=');
      if (eq < 0 || pair.slice(0, eq).trim().toLowerCase() !== 'for') continue;
      let v = pair.slice(eq + 1).trim();
      if (v.startsWith('"') && v.endsWith('"') && v.length >= 2) v = v.slice(1, -1);
      // RFC 7239 §6: node = nodename [ ":" node-port ], IPv6 in brackets.
      if (v.startsWith('[')) {
        const close = v.indexOf(']');
        v = close < 0 ? v : v.slice(1, close);
      } else if (v.split(':').length === 2) {
        v = v.slice(0, v.indexOf(':'));
      }
      out.push(v);
    }
  }
  return out;
}

/** Options of {@link resolveClientAddress}. */
export interface ResolveClientOptions {
  /** `req.socket.remoteAddress`; undefined if the socket is gone. */
  readonly peerAddress: string | undefined;
  readonly headers: ForwardedHeaders;
  readonly trustedProxies: TrustedProxies;
}

/**
 * The address of the client: the peer itself unless the peer is a trusted proxy; then the
 * hop list (`Forwarded` if present, else `X-Forwarded-For`) is walked from the right,
 * skipping trusted proxies, and the first untrusted hop is the client. A hop that is not an
 * address (`unknown`, an obfuscated id, garbage) stops the walk: the last trusted hop is
 * returned, so a forger can never choose the result. Returns canonical text
 * ({@link canonicalIp}), or `'unknown'` when the peer address is missing.
 */
export function resolveClientAddress(opts: ResolveClientOptions): string {
  const peer = opts.peerAddress === undefined ? null : canonicalIp(opts.peerAddress);
  if (peer === null) return 'unknown';
  if (!opts.trustedProxies.contains(peer)) return peer;
  const forwarded = headerText(opts.headers, 'forwarded');
  const xff = headerText(opts.headers, 'x-forwarded-for');
  const hops =
    forwarded !== undefined
      ? parseForwardedFor(forwarded)
      : xff !== undefined
        ? xff.split(',')
        : [];
  let client = peer;
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = canonicalIp(hops[i] ?? '');
    if (hop === null) break;
    client = hop;
    if (!opts.trustedProxies.contains(hop)) break;
  }
  return client;
}
