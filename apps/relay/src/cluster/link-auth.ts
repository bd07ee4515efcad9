/**
 * The hello of the internal link between relay nodes (cluster/link.ts): one JSON line, of two
 * kinds. Asking for a dial-in VM: `{"v":1,"target","node","ts","nonce","mac"}` in which `mac`
 * is HMAC-SHA256 over `cardlend-link-v1\n<target>\n<node>\n<ts>\n<nonce>`. Resuming a session
 * the other node runs (cluster/resume-link.ts): `{"v":1,"kind":"resume","ticket","origin",
 * "protocol","node","ts","nonce","mac"}` (`origin` null for a client without one) in which
 * `mac` is HMAC-SHA256 over the JSON array `["cardlend-link-v1-resume", ticket, origin,
 * protocol, node, ts, nonce]`. The key is the cluster's link key, derived from the current
 * token secret, which every node of a cluster shares already (a node that can verify tokens
 * may also ask for a VM). Pure: time and the replay memory are passed in.
 *
 * The resume hello carries a resume ticket: it is never logged, and refusals never quote it.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { isResumeTicket } from '@cardlend/vscard';
// Admission refuses longer Origins, so every session's origin fits a resume hello.
import { MAX_ORIGIN_CHARS } from '../auth/origin.ts';

/** Hello lines older or newer than this are refused, ms. */
export const LINK_HELLO_MAX_SKEW_MS = 30_000;
/** Longest hello line, bytes. */
export const MAX_HELLO_BYTES = 2048;

const ID = /^[A-Za-z0-9._-]{1,64}$/;
const NONCE = /^[A-Za-z0-9_-]{16,64}$/;
/** A selected WebSocket subprotocol (`cardlend.vscard.v1` and its variants). */
const PROTOCOL = /^[A-Za-z0-9._-]{1,64}$/;

/** Who signed, when, and the nonce that makes the hello single-use. */
interface HelloStamp {
  readonly node: string;
  readonly ts: number;
  readonly nonce: string;
}

/** A node asks for a dial-in VM parked here. */
export interface LinkHello extends HelloStamp {
  readonly target: string;
}

/** A node passes on a browser that presented a resume ticket of a session run here. */
export interface ResumeHello extends HelloStamp {
  readonly ticket: string;
  /** The browser's Origin header (undefined: a native client). */
  readonly origin: string | undefined;
  /** The subprotocol the browser's node selected for it. */
  readonly protocol: string;
}

/** What a resume hello asks for (the signer adds the stamp). */
export type ResumeRequest = Pick<ResumeHello, 'ticket' | 'origin' | 'protocol'>;

/** The link key: HMAC(token secret, "cardlend cluster link v1"). */
export function linkKey(tokenSecret: Uint8Array): Buffer {
  return createHmac('sha256', tokenSecret).update('cardlend cluster link v1').digest();
}

function mac(key: Uint8Array, h: LinkHello): Buffer {
  return createHmac('sha256', key)
    .update(`cardlend-link-v1\n${h.target}\n${h.node}\n${h.ts}\n${h.nonce}`)
    .digest();
}

function resumeMac(key: Uint8Array, h: ResumeHello): Buffer {
  const fields = ['cardlend-link-v1-resume', h.ticket, h.origin ?? null, h.protocol, h.node];
  return createHmac('sha256', key)
    .update(JSON.stringify([...fields, h.ts, h.nonce]))
    .digest();
}

/** The hello line (with its newline) asking for `target` as `node` at `nowMs`. */
export function signHello(key: Uint8Array, target: string, node: string, nowMs: number): string {
  const h: LinkHello = { target, node, ts: nowMs, nonce: randomBytes(16).toString('base64url') };
  return `${JSON.stringify({ v: 1, ...h, mac: mac(key, h).toString('hex') })}\n`;
}

/** The hello line (with its newline) passing on a resume, as `node` at `nowMs`. */
export function signResumeHello(
  key: Uint8Array,
  r: ResumeRequest,
  node: string,
  nowMs: number,
): string {
  const h: ResumeHello = { ...r, node, ts: nowMs, nonce: randomBytes(16).toString('base64url') };
  const line = { v: 1, kind: 'resume', ...h, origin: h.origin ?? null };
  return `${JSON.stringify({ ...line, mac: resumeMac(key, h).toString('hex') })}\n`;
}

export type HelloCheck =
  | { readonly ok: true; readonly kind: 'dial-in'; readonly hello: LinkHello }
  | { readonly ok: true; readonly kind: 'resume'; readonly hello: ResumeHello }
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
  const parsed = o['kind'] === 'resume' ? resumeOf(o) : dialInOf(o);
  if (parsed === undefined || typeof o['mac'] !== 'string' || !/^[0-9a-f]{64}$/.test(o['mac']))
    return { ok: false, reason: 'malformed' };
  const expected = parsed.kind === 'resume' ? resumeMac(key, parsed.hello) : mac(key, parsed.hello);
  if (!timingSafeEqual(expected, Buffer.from(o['mac'], 'hex')))
    return { ok: false, reason: 'bad mac' };
  const { ts, nonce } = parsed.hello;
  if (Math.abs(nowMs - ts) > LINK_HELLO_MAX_SKEW_MS) return { ok: false, reason: 'stale' };
  if (seen.has(nonce)) return { ok: false, reason: 'replayed' };
  seen.set(nonce, ts);
  for (const [n, at] of seen) if (Math.abs(nowMs - at) > LINK_HELLO_MAX_SKEW_MS) seen.delete(n);
  return { ok: true, ...parsed };
}

/** The stamp of a parsed hello, if well-formed. */
function stampOf(o: Record<string, unknown>): HelloStamp | undefined {
  const { node, ts, nonce } = o;
  if (
    o['v'] !== 1 ||
    typeof node !== 'string' ||
    !ID.test(node) ||
    typeof ts !== 'number' ||
    !Number.isSafeInteger(ts) ||
    typeof nonce !== 'string' ||
    !NONCE.test(nonce)
  )
    return undefined;
  return { node, ts, nonce };
}

function dialInOf(o: Record<string, unknown>): { kind: 'dial-in'; hello: LinkHello } | undefined {
  const stamp = stampOf(o);
  const { target } = o;
  if (stamp === undefined || o['kind'] !== undefined || typeof target !== 'string') return;
  return ID.test(target) ? { kind: 'dial-in', hello: { target, ...stamp } } : undefined;
}

function resumeOf(o: Record<string, unknown>): { kind: 'resume'; hello: ResumeHello } | undefined {
  const stamp = stampOf(o);
  const { ticket, origin, protocol } = o;
  if (
    stamp === undefined ||
    typeof ticket !== 'string' ||
    !isResumeTicket(ticket) ||
    !(origin === null || (typeof origin === 'string' && origin.length <= MAX_ORIGIN_CHARS)) ||
    typeof protocol !== 'string' ||
    !PROTOCOL.test(protocol)
  )
    return undefined;
  return { kind: 'resume', hello: { ticket, origin: origin ?? undefined, protocol, ...stamp } };
}
