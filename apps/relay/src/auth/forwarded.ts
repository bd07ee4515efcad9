/**
 * The client's address behind a reverse proxy (issue 6: "trusted forwarded headers only
 * when configured"). `X-Forwarded-For` and `Forwarded` (RFC 7239) are believed only when
 * the TCP peer is in the trusted-proxy list; otherwise anyone could pick the address that
 * the per-address session cap and the audit log see.
 *
 * Integration (server.ts): build `const proxies = parseTrustedProxies(config.trustedProxies)`
 * once at start (it throws RangeError with the bad entry for the config validator), then
 * per upgrade request:
 * `const client = resolveClientAddress({ peerAddress: req.socket.remoteAddress, headers: req.headers, trustedProxies: proxies })`.
 */
import { isIPv4, isIPv6 } from 'node:net';

/** An address as bytes: 4 for IPv4 (IPv4-mapped IPv6 is folded to IPv4), 16 for IPv6. */
export type IpBytes = Uint8Array;

/**
 * Parses an IPv4 or IPv6 textual address (RFC 4291 §2.2, zone ids not allowed; brackets
 * are stripped). `::ffff:a.b.c.d` becomes the 4-byte IPv4 address. Returns null if invalid.
 */
export function parseIp(text: string): IpBytes | null {
  let s = text.trim();
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  if (isIPv4(s)) return new Uint8Array(s.split('.').map(Number));
  if (!isIPv6(s) || s.includes('%')) return null;
  // RFC 4291 §2.2 form 3: a trailing dotted quad stands for the last two groups.
  const lastColon = s.lastIndexOf(':');
  const quad = s.slice(lastColon + 1);
  if (quad.includes('.')) {
    const [a, b, c, d] = quad.split('.').map(Number) as [number, number, number, number];
    s = `${s.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = s.split('::');
  const toGroups = (part: string | undefined): number[] =>
    part === undefined || part === '' ? [] : part.split(':').map((g) => parseInt(g, 16));
  const head = toGroups(halves[0]);
  const rest = halves.length === 2 ? toGroups(halves[1]) : [];
  const zeros = halves.length === 2 ? 8 - head.length - rest.length : 0;
  const groups = [...head, ...new Array<number>(Math.max(0, zeros)).fill(0), ...rest];
  if (groups.length !== 8) return null;
  const bytes = new Uint8Array(16);
  groups.forEach((g, i) => {
    bytes[2 * i] = g >> 8;
    bytes[2 * i + 1] = g & 0xff;
  });
  const isMapped =
    bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
  return isMapped ? bytes.slice(12) : bytes;
}

/** Canonical text of an address: dotted IPv4, or RFC 5952 compressed lower-case IPv6. */
export function formatIp(bytes: IpBytes): string {
  if (bytes.byteLength === 4) return Array.from(bytes).join('.');
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0));
  // RFC 5952 §4.2.3: compress the longest run of ≥ 2 zero groups, the first one on a tie.
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

/** A CIDR block (RFC 4632 / RFC 4291 §2.3). */
export interface Cidr {
  readonly network: IpBytes;
  readonly prefixLength: number;
}

/** Parses `a.b.c.d/n`, `x::y/n` or a bare address (a /32 or /128). Returns null if invalid. */
export function parseCidr(text: string): Cidr | null {
  const slash = text.indexOf('/');
  const addr = parseIp(slash < 0 ? text : text.slice(0, slash));
  if (addr === null) return null;
  const max = addr.byteLength * 8;
  let prefixLength = max;
  if (slash >= 0) {
    const p = text.slice(slash + 1);
    if (!/^[0-9]{1,3}$/.test(p)) return null;
    prefixLength = Number(p);
    // An IPv4-mapped block (::ffff:10.0.0.0/104) is folded like its address.
    if (addr.byteLength === 4 && !isIPv4(text.slice(0, slash).trim())) prefixLength -= 96;
    if (prefixLength < 0 || prefixLength > max) return null;
  }
  return { network: maskIp(addr, prefixLength), prefixLength };
}

/** Keeps the first `prefixLength` bits of `addr`, zeroing the rest. */
export function maskIp(addr: IpBytes, prefixLength: number): IpBytes {
  const out = new Uint8Array(addr.byteLength);
  for (let i = 0; i < addr.byteLength; i++) {
    const bits = Math.max(0, Math.min(8, prefixLength - 8 * i));
    out[i] = (addr[i] ?? 0) & ((0xff << (8 - bits)) & 0xff);
  }
  return out;
}

/** True when `addr` lies in `cidr` (families must match; IPv4-mapped counts as IPv4). */
export function cidrContains(cidr: Cidr, addr: IpBytes): boolean {
  if (addr.byteLength !== cidr.network.byteLength) return false;
  const masked = maskIp(addr, cidr.prefixLength);
  return masked.every((b, i) => b === cidr.network[i]);
}

/** A parsed trusted-proxy list. */
export interface TrustedProxies {
  readonly blocks: readonly Cidr[];
  /** True when the address text parses and lies in one of the blocks. */
  contains(address: string | IpBytes): boolean;
}

/**
 * Parses the configured trusted proxies (addresses or CIDR blocks; also `loopback` for
 * 127.0.0.0/8 and ::1). Throws RangeError naming the first invalid entry.
 */
export function parseTrustedProxies(list: readonly string[]): TrustedProxies {
  const blocks: Cidr[] = [];
  for (const entry of list) {
    if (entry === 'loopback') {
      blocks.push(parseCidr('127.0.0.0/8') as Cidr, parseCidr('::1/128') as Cidr);
      continue;
    }
    const cidr = parseCidr(entry);
    if (cidr === null)
      throw new RangeError(`trusted proxy "${entry}" is not an IP address or CIDR block`);
    blocks.push(cidr);
  }
  return {
    blocks,
    contains(address) {
      const bytes = typeof address === 'string' ? parseIp(address) : address;
      return bytes !== null && blocks.some((b) => cidrContains(b, bytes));
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
 * ({@link formatIp}), or `'unknown'` when the peer address is missing.
 */
export function resolveClientAddress(opts: ResolveClientOptions): string {
  const peer = opts.peerAddress === undefined ? null : parseIp(opts.peerAddress);
  if (peer === null) return 'unknown';
  if (!opts.trustedProxies.contains(peer)) return formatIp(peer);
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
    const hop = parseIp(hops[i] ?? '');
    if (hop === null) break;
    client = hop;
    if (!opts.trustedProxies.contains(hop)) break;
  }
  return formatIp(client);
}
