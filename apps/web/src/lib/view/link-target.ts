/**
 * Where the card goes, as far as the page can tell before lending: the VM target id and the
 * expiry read from the session token (unverified: the relay verifies; the page only names
 * them), the relay's host, and who asked when the link says so. Pure.
 *
 * Token format (apps/relay/src/auth/tokens.ts): `v1.<payload>.<signature>`, base64url parts,
 * payload = JSON `{"tid": string, "exp": unix seconds, "jti": string, "one"?: true}`.
 */
import { normalizeRelayUrl } from '../state/launch-params.ts';

/** What the token in the link says, without checking its signature. */
export type TokenReading =
  | { kind: 'none' }
  | { kind: 'malformed' }
  | { kind: 'claims'; targetId: string; expiresAtMs: number; isOneTime: boolean };

/** Target ids as the relay accepts them (TARGET_ID_PATTERN in the relay). */
const TARGET_ID = /^[A-Za-z0-9._-]{1,64}$/;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

function decodeBase64Url(text: string): string | null {
  if (!BASE64URL.test(text)) return null;
  const padded =
    text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4);
  try {
    const binary = atob(padded);
    const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return null;
  }
}

/** Read a session token's claims (never throws; any string is handled). */
export function readToken(token: string): TokenReading {
  const text = token.trim();
  if (text === '') return { kind: 'none' };
  const parts = text.split('.');
  if (parts.length !== 3 || parts[0] !== 'v1' || !BASE64URL.test(parts[2] ?? '')) {
    return { kind: 'malformed' };
  }
  const json = decodeBase64Url(parts[1] ?? '');
  if (json === null) return { kind: 'malformed' };
  let payload: unknown;
  try {
    payload = JSON.parse(json);
  } catch {
    return { kind: 'malformed' };
  }
  if (typeof payload !== 'object' || payload === null) return { kind: 'malformed' };
  const { tid, exp, one } = payload as Record<string, unknown>;
  if (typeof tid !== 'string' || !TARGET_ID.test(tid)) return { kind: 'malformed' };
  if (typeof exp !== 'number' || !Number.isFinite(exp)) return { kind: 'malformed' };
  return { kind: 'claims', targetId: tid, expiresAtMs: exp * 1000, isOneTime: one === true };
}

/** The relay as the person should read it: its host (and port when not the default). */
export type RelayReading =
  | { ok: true; url: string; host: string; httpUrl: string; isPageOrigin: boolean }
  | { ok: false; reason: string };

/** Read the relay address the page would use. */
export function readRelay(relayInput: string, pageUrl: string): RelayReading {
  const result = normalizeRelayUrl(relayInput, pageUrl);
  if (!result.ok) return result;
  const url = new URL(result.url);
  const page = new URL(pageUrl);
  const httpScheme = url.protocol === 'wss:' ? 'https:' : 'http:';
  return {
    ok: true,
    url: result.url,
    host: url.host,
    httpUrl: `${httpScheme}//${url.host}/`,
    isPageOrigin: url.host === page.host && httpScheme === page.protocol,
  };
}

/** A clock time a person reads: "14:32", with the date when it is not today. */
export function formatClock(epochMs: number, nowMs: number): string {
  const at = new Date(epochMs);
  const now = new Date(nowMs);
  const pad = (n: number): string => String(n).padStart(2, '0');
  const time = `${pad(at.getHours())}:${pad(at.getMinutes())}`;
  const isToday =
    at.getFullYear() === now.getFullYear() &&
    at.getMonth() === now.getMonth() &&
    at.getDate() === now.getDate();
  if (isToday) return time;
  const month = at.toLocaleString('en-GB', { month: 'short' });
  return `${time} on ${at.getDate()} ${month} ${at.getFullYear()}`;
}

/** Everything the target line shows. */
export interface LinkTarget {
  /** The VM's name from the token, or null when no token names one. */
  vm: string | null;
  /** The relay's host, or null when the address cannot be used. */
  relayHost: string | null;
  /** Who asked, as the link says (`from=`), or null. */
  askedBy: string | null;
  token: TokenReading;
  relay: RelayReading;
}

/** Longest `from=` text shown, characters. */
export const MAX_ASKED_BY = 60;

/** Who asked, from the link's `from` parameter: plain text, trimmed and shortened. */
export function readAskedBy(pageUrl: string): string | null {
  const raw = new URL(pageUrl).searchParams.get('from');
  if (raw === null) return null;
  const text = Array.from(raw, (c) => (c < ' ' || c === '\u007f' ? ' ' : c))
    .join('')
    .replace(/\s+/g, ' ')
    .trim();
  if (text === '') return null;
  return text.length > MAX_ASKED_BY ? `${text.slice(0, MAX_ASKED_BY - 1)}…` : text;
}

export function readLinkTarget(opts: {
  relayInput: string;
  tokenInput: string;
  pageUrl: string;
}): LinkTarget {
  const token = readToken(opts.tokenInput);
  const relay = readRelay(opts.relayInput, opts.pageUrl);
  return {
    vm: token.kind === 'claims' ? token.targetId : null,
    relayHost: relay.ok ? relay.host : null,
    askedBy: readAskedBy(opts.pageUrl),
    token,
    relay,
  };
}

/** The token exactly as the link carries it (fragment first, then query), before any check. */
export function rawTokenFrom(pageUrl: string): string {
  const page = new URL(pageUrl);
  const fragment = new URLSearchParams(page.hash.startsWith('#') ? page.hash.slice(1) : page.hash);
  return (fragment.get('token') ?? page.searchParams.get('token') ?? '').trim();
}
