/**
 * The hello of the internal link between relay nodes (cluster/link.ts): one JSON line
 * `{"v":1,"target","node","ts","nonce","mac"}` in which `mac` is HMAC-SHA256 over
 * `cardlend-link-v1\n<target>\n<node>\n<ts>\n<nonce>` with the cluster's link key. The key is
 * derived from the current token secret, which every node of a cluster shares already (a
 * node that can verify tokens may also ask for a VM). Pure: time and the replay memory are
 * passed in.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** Hello lines older or newer than this are refused, ms. */
export const LINK_HELLO_MAX_SKEW_MS = 30_000;
/** Longest hello line, bytes. */
export const MAX_HELLO_BYTES = 512;

const ID = /^[A-Za-z0-9._-]{1,64}$/;
const NONCE = /^[A-Za-z0-9_-]{16,64}$/;

export interface LinkHello {
  readonly target: string;
  readonly node: string;
  readonly ts: number;
  readonly nonce: string;
}

/** The link key: HMAC(token secret, "cardlend cluster link v1"). */
export function linkKey(tokenSecret: Uint8Array): Buffer {
  return createHmac('sha256', tokenSecret).update('cardlend cluster link v1').digest();
}

function mac(key: Uint8Array, h: LinkHello): Buffer {
  return createHmac('sha256', key)
    .update(`cardlend-link-v1\n${h.target}\n${h.node}\n${h.ts}\n${h.nonce}`)
    .digest();
}

/** The hello line (with its newline) asking for `target` as `node` at `nowMs`. */
export function signHello(key: Uint8Array, target: string, node: string, nowMs: number): string {
  const h: LinkHello = { target, node, ts: nowMs, nonce: randomBytes(16).toString('base64url') };
  return `${JSON.stringify({ v: 1, ...h, mac: mac(key, h).toString('hex') })}\n`;
}

export type HelloCheck =
  | { readonly ok: true; readonly hello: LinkHello }
  | { readonly ok: false; readonly reason: string };

/**
 * Checks a hello line (without its newline): shape, MAC (constant time), clock, and that its
 * nonce was not seen (`seen` remembers nonces; the caller forgets them after the skew).
 */
export function checkHello(
  key: Uint8Array,
  line: string,
  nowMs: number,
  seen: Map<string, number>,
): HelloCheck {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  const o = (typeof v === 'object' && v !== null ? v : {}) as Record<string, unknown>;
  const { target, node, ts, nonce } = o;
  if (
    o['v'] !== 1 ||
    typeof target !== 'string' ||
    !ID.test(target) ||
    typeof node !== 'string' ||
    !ID.test(node) ||
    typeof ts !== 'number' ||
    !Number.isSafeInteger(ts) ||
    typeof nonce !== 'string' ||
    !NONCE.test(nonce) ||
    typeof o['mac'] !== 'string' ||
    !/^[0-9a-f]{64}$/.test(o['mac'])
  )
    return { ok: false, reason: 'malformed' };
  const hello: LinkHello = { target, node, ts, nonce };
  if (!timingSafeEqual(mac(key, hello), Buffer.from(o['mac'], 'hex')))
    return { ok: false, reason: 'bad mac' };
  if (Math.abs(nowMs - ts) > LINK_HELLO_MAX_SKEW_MS) return { ok: false, reason: 'stale' };
  if (seen.has(nonce)) return { ok: false, reason: 'replayed' };
  seen.set(nonce, ts);
  for (const [n, at] of seen) if (Math.abs(nowMs - at) > LINK_HELLO_MAX_SKEW_MS) seen.delete(n);
  return { ok: true, hello };
}
