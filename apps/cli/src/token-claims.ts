/**
 * What a session token says about its target, read WITHOUT verifying it: only the relay holds
 * the secret and verifies. The consent prompt shows it so the person sees which VM they lend
 * to before anything is sent. Format (apps/relay/src/auth/tokens.ts):
 * `v1.<base64url JSON {"tid", "exp", "jti", "one"?}>.<base64url HMAC>`. Pure.
 */

/** The unverified claims the CLI shows. */
export interface TokenClaims {
  /** Target id: the VM's name in the relay's configuration. */
  readonly targetId: string;
  /** Expiry, unix seconds. */
  readonly expiresAtSec: number;
  /** True: the token opens one session only (no reconnect with the same token). */
  readonly isOneTime: boolean;
}

/** Longest token the relay accepts (MAX_TOKEN_CHARS there). */
const MAX_TOKEN_CHARS = 1024;
const BASE64URL = /^[A-Za-z0-9_-]+$/;
const TARGET_ID = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * Decodes the claims of a `v1` token, or returns `null` when the token is not in that form
 * (an opaque token from another issuer is still sent; the relay decides). Never throws.
 */
export function decodeTokenClaims(token: string): TokenClaims | null {
  if (token.length === 0 || token.length > MAX_TOKEN_CHARS) return null;
  const parts = token.split('.');
  if (parts.length !== 3 || parts[0] !== 'v1') return null;
  const body = parts[1] ?? '';
  if (!BASE64URL.test(body)) return null;
  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
  } catch {
    return null;
  }
  if (typeof payload !== 'object' || payload === null) return null;
  const { tid, exp, one } = payload as Record<string, unknown>;
  if (typeof tid !== 'string' || !TARGET_ID.test(tid)) return null;
  if (typeof exp !== 'number' || !Number.isSafeInteger(exp)) return null;
  return { targetId: tid, expiresAtSec: exp, isOneTime: one === true };
}

/**
 * How long until `expiresAtSec`, in words ("in 9 min", "expired 2 min ago"). Pure.
 * @param nowMs current time, unix milliseconds.
 */
export function describeExpiry(expiresAtSec: number, nowMs: number): string {
  const leftSec = Math.round(expiresAtSec - nowMs / 1000);
  const words = (sec: number): string => {
    if (sec < 90) return `${sec} s`;
    if (sec < 90 * 60) return `${Math.round(sec / 60)} min`;
    if (sec < 48 * 3600) return `${Math.round(sec / 3600)} h`;
    return `${Math.round(sec / 86400)} days`;
  };
  return leftSec >= 0 ? `expires in ${words(leftSec)}` : `expired ${words(-leftSec)} ago`;
}
