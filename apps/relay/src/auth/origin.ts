/**
 * Browser-facing admission checks that run before a session exists (issue 6, "Access
 * control"): the Origin allowlist, the token carried in `Sec-WebSocket-Protocol`, and the
 * alternative "first message" authentication with its deadline.
 *
 * Integration (admission/steps.ts, websocket-front.ts, admission/pending-client.ts):
 * - At start: `const originPolicy = createOriginPolicy({ allowedOrigins: config.allowedOrigins, isLoopbackListener: isLoopbackHost(config.listen.host) })`
 *   (throws RangeError naming a bad pattern, for the config validator).
 * - `new WebSocketServer({ ..., handleProtocols: selectSubprotocol })` so only
 *   `cardlend.vscard.v1` is ever echoed (never the token).
 * - On upgrade: `originPolicy.check({ origin: req.headers.origin, host: req.headers.host })`;
 *   the header is read once (admission/offer.ts, with `offeredSubprotocols` and
 *   `tokenAmongProtocols`). If no token was offered and first-message auth is enabled:
 *   `armAuthDeadline(...)` and feed the first message to `parseAuthMessage`. Never log or keep
 *   the header or the token.
 */
import { BlockList } from 'node:net';
import {
  isRelaySubprotocol,
  RELAY_TOKEN_SUBPROTOCOL_PREFIX,
  selectRelaySubprotocol,
} from '@cardlend/vscard';
import { canonicalIp, ipFamily } from './forwarded.ts';
import { MAX_TOKEN_CHARS } from './tokens.ts';

/**
 * Longest Origin admitted, characters (a DNS name is at most 253). A longer one is refused
 * before any pattern is tried, so every admitted Origin fits the cluster's signed resume hello
 * (cluster/link-auth.ts), and a resume through another node is answered as on its own node.
 */
export const MAX_ORIGIN_CHARS = 1024;

/** Result of an origin check. */
export type OriginDecision =
  | { readonly ok: true }
  | {
      readonly ok: false;
      readonly reason: 'origin-missing' | 'origin-refused' | 'origin-too-long';
    };

/** The compiled policy. */
export interface OriginPolicy {
  /** Decides for the `Origin` and `Host` headers of an upgrade request. */
  check(opts: {
    readonly origin: string | undefined;
    readonly host: string | undefined;
  }): OriginDecision;
}

/** Options of {@link createOriginPolicy}. */
export interface OriginPolicyOptions {
  /**
   * Allowed origins: exact (`https://app.example.com`, `http://host:8080`) or with a
   * wildcard first label (`https://*.example.com[:port]`, matching one or more labels
   * below example.com but not example.com itself). Default: none.
   */
  readonly allowedOrigins?: readonly string[];
  /** The listener binds a loopback address (127.0.0.0/8, ::1, localhost). */
  readonly isLoopbackListener: boolean;
  /**
   * Also allow the page served by the relay itself (Origin host:port equals the Host
   * header). Default true; a loopback listener only allows it for loopback host names,
   * which defeats DNS rebinding.
   */
  readonly isSameOriginAllowed?: boolean;
  /**
   * Accept requests without an Origin: native clients (the `cardlend` command line), since
   * browsers always send one on a WebSocket handshake. They still pass every other check
   * (session caps, tokens when configured). Default true.
   */
  readonly isMissingOriginAllowed?: boolean;
}

interface OriginPattern {
  readonly scheme: string;
  /** Exact host, or the suffix after `*.` (starting with a dot) when `isWildcard`. */
  readonly host: string;
  readonly isWildcard: boolean;
  /** Port as text ('' = the scheme's default), or '*' for any. */
  readonly port: string;
}

const PATTERN = /^(https?):\/\/(\*\.)?([a-z0-9.-]+|\[[0-9a-f:.]+\])(?::(\d{1,5}|\*))?\/?$/;
const DEFAULT_PORT: Record<string, string> = {
  'http:': '80',
  'https:': '443',
  http: '80',
  https: '443',
};

function compile(pattern: string): OriginPattern {
  const m = PATTERN.exec(pattern.trim().toLowerCase());
  if (m === null) {
    throw new RangeError(
      `allowed origin "${pattern}" must look like https://host[:port] or https://*.domain[:port]`,
    );
  }
  const [, scheme = '', star, host = '', port] = m;
  if (star !== undefined && (host.startsWith('[') || !host.includes('.'))) {
    throw new RangeError(
      `allowed origin "${pattern}": a wildcard needs a domain with at least two labels`,
    );
  }
  const normalizedPort = port === undefined || port === DEFAULT_PORT[scheme] ? '' : port;
  return {
    scheme,
    host: star === undefined ? host : `.${host}`,
    isWildcard: star !== undefined,
    port: normalizedPort,
  };
}

interface ParsedOrigin {
  readonly scheme: string;
  readonly host: string;
  readonly port: string;
}

function parseOrigin(origin: string): ParsedOrigin | null {
  // RFC 6454 §7: the serialized origin; "null" and anything with a path are refused.
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return null;
  }
  if (
    (url.protocol !== 'http:' && url.protocol !== 'https:') ||
    url.origin !== origin.toLowerCase()
  )
    return null;
  return { scheme: url.protocol.slice(0, -1), host: url.hostname, port: url.port };
}

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

const LOOPBACK_BLOCKS = new BlockList();
LOOPBACK_BLOCKS.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK_BLOCKS.addAddress('::1', 'ipv6');

/** True for `localhost`, 127.0.0.0/8, ::1 (and IPv4-mapped loopback), with or without brackets. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  if (LOOPBACK_NAMES.has(h) || h.endsWith('.localhost')) return true;
  const ip = canonicalIp(h);
  return ip !== null && LOOPBACK_BLOCKS.check(ip, ipFamily(ip));
}

/** Builds the policy; throws RangeError naming the first bad pattern. */
export function createOriginPolicy(opts: OriginPolicyOptions): OriginPolicy {
  const patterns = (opts.allowedOrigins ?? []).map(compile);
  const isSameOriginAllowed = opts.isSameOriginAllowed ?? true;
  const isMissingOriginAllowed = opts.isMissingOriginAllowed ?? true;
  const matches = (o: ParsedOrigin): boolean =>
    patterns.some(
      (p) =>
        p.scheme === o.scheme &&
        (p.port === '*' || p.port === o.port) &&
        (p.isWildcard
          ? o.host.endsWith(p.host) && o.host.length > p.host.length
          : o.host === p.host),
    );
  return {
    check({ origin, host }) {
      if (origin === undefined || origin === '') {
        return isMissingOriginAllowed ? { ok: true } : { ok: false, reason: 'origin-missing' };
      }
      if (origin.length > MAX_ORIGIN_CHARS) return { ok: false, reason: 'origin-too-long' };
      const o = parseOrigin(origin);
      if (o === null) return { ok: false, reason: 'origin-refused' };
      if (matches(o)) return { ok: true };
      if (isSameOriginAllowed && host !== undefined) {
        const hostPort = o.port === '' ? o.host : `${o.host}:${o.port}`;
        const isSame =
          hostPort === host.toLowerCase() ||
          (o.port === '' && `${o.host}:${DEFAULT_PORT[o.scheme] ?? ''}` === host.toLowerCase());
        if (isSame && (!opts.isLoopbackListener || isLoopbackHost(o.host))) return { ok: true };
      }
      return { ok: false, reason: 'origin-refused' };
    },
  };
}

/** What the browser asked for in `Sec-WebSocket-Protocol` (RFC 6455 §4.1, §11.3.4). */
export interface OfferedProtocols {
  /** True when `cardlend.vscard.v1` (or its long-answers form) was offered. */
  readonly hasVscardProtocol: boolean;
  /** The token (after the `cardlend.token.` prefix); null if none, or if more than one was offered. */
  readonly token: string | null;
  /** More than one token was offered (treated as no token). */
  readonly hasSeveralTokens: boolean;
}

/** The offered subprotocols of the header value (or values), trimmed, in order. */
export function offeredSubprotocols(header: string | readonly string[] | undefined): string[] {
  const text = header === undefined ? '' : typeof header === 'string' ? header : header.join(',');
  return text.split(',').map((p) => p.trim());
}

/**
 * The VSCard contract and the token among subprotocols already split ({@link offeredSubprotocols});
 * keeps and logs neither. admission/offer.ts `parseClientOffer` is the one caller.
 */
export function tokenAmongProtocols(offered: Iterable<string>): OfferedProtocols {
  let hasVscardProtocol = false;
  let token: string | null = null;
  let count = 0;
  for (const p of offered) {
    if (isRelaySubprotocol(p)) hasVscardProtocol = true;
    else if (p.startsWith(RELAY_TOKEN_SUBPROTOCOL_PREFIX)) {
      count++;
      const t = p.slice(RELAY_TOKEN_SUBPROTOCOL_PREFIX.length);
      token = t.length > 0 && t.length <= MAX_TOKEN_CHARS ? t : null;
    }
  }
  return { hasVscardProtocol, token: count === 1 ? token : null, hasSeveralTokens: count > 1 };
}

/**
 * `handleProtocols` for `ws`'s WebSocketServer: selects `cardlend.vscard.v1.long-answers` when
 * offered (the relay then splits long answers, issue 11 §3), else `cardlend.vscard.v1`,
 * otherwise no subprotocol (false). The token subprotocol is never echoed.
 */
export function selectSubprotocol(protocols: ReadonlySet<string>): string | false {
  return selectRelaySubprotocol(protocols);
}

/** Largest accepted first (auth) message, bytes. */
export const MAX_AUTH_MESSAGE_BYTES = 2048;

/** Default time a browser has to authenticate after the WebSocket opens, ms. */
export const DEFAULT_AUTH_TIMEOUT_MS = 5000;

/** Result of {@link parseAuthMessage}. */
export type AuthMessageResult =
  | { readonly ok: true; readonly token: string }
  | { readonly ok: false; readonly reason: 'bad-auth-message' };

/**
 * Parses the first-message authentication: one text frame holding JSON `{"token": "..."}`
 * (≤ {@link MAX_AUTH_MESSAGE_BYTES}). Binary frames, other shapes and extra keys are refused.
 */
export function parseAuthMessage(data: Uint8Array | string, isBinary: boolean): AuthMessageResult {
  if (isBinary) return { ok: false, reason: 'bad-auth-message' };
  const text =
    typeof data === 'string' ? data : new TextDecoder('utf-8', { fatal: false }).decode(data);
  if (Buffer.byteLength(text, 'utf8') > MAX_AUTH_MESSAGE_BYTES)
    return { ok: false, reason: 'bad-auth-message' };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'bad-auth-message' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return { ok: false, reason: 'bad-auth-message' };
  const keys = Object.keys(value);
  const token = (value as Record<string, unknown>)['token'];
  if (
    keys.length !== 1 ||
    typeof token !== 'string' ||
    token.length === 0 ||
    token.length > MAX_TOKEN_CHARS
  ) {
    return { ok: false, reason: 'bad-auth-message' };
  }
  return { ok: true, token };
}

/** A running auth deadline. */
export interface AuthDeadline {
  /** Marks authentication done; returns false if the deadline had already fired. Idempotent. */
  settle(): boolean;
  /** True once the deadline fired (then `onExpire` was called exactly once). */
  readonly isExpired: boolean;
}

/**
 * Starts the deadline: unless `settle()` is called within `timeoutMs`
 * (default {@link DEFAULT_AUTH_TIMEOUT_MS}), `onExpire` runs once (close with AUTH_TIMEOUT).
 * Also bounds a slowloris browser that opens and never speaks. The timer is unref'd.
 */
export function armAuthDeadline(opts: {
  readonly timeoutMs?: number;
  readonly onExpire: () => void;
}): AuthDeadline {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_AUTH_TIMEOUT_MS;
  if (!(timeoutMs > 0) || !Number.isFinite(timeoutMs))
    throw new RangeError('timeoutMs must be a positive number');
  let state: 'pending' | 'settled' | 'expired' = 'pending';
  const timer = setTimeout(() => {
    if (state !== 'pending') return;
    state = 'expired';
    opts.onExpire();
  }, timeoutMs);
  timer.unref();
  return {
    settle() {
      if (state === 'expired') return false;
      state = 'settled';
      clearTimeout(timer);
      return true;
    },
    get isExpired() {
      return state === 'expired';
    },
  };
}
