/**
 * Session tokens for tests, in the relay's format (apps/relay/src/auth/tokens.ts):
 * `v1.<base64url JSON {tid, exp, jti, one?}>.<base64url HMAC-SHA256(secret, "v1." + payload)>`.
 */
import { createHmac, randomBytes } from 'node:crypto';

/** A 48-byte secret for the relay's `tokenSecrets`. */
export function testSecret(): Uint8Array {
  return new Uint8Array(randomBytes(48));
}

/** Mints a token for `targetId`, valid `ttlSeconds`; `isOneTime` false allows reconnects. */
export function mintTestToken(
  secret: Uint8Array,
  targetId: string,
  opts: { ttlSeconds?: number; isOneTime?: boolean } = {},
): string {
  const payload: Record<string, unknown> = {
    tid: targetId,
    exp: Math.floor(Date.now() / 1000) + (opts.ttlSeconds ?? 600),
    jti: randomBytes(16).toString('base64url'),
  };
  if (opts.isOneTime ?? true) payload['one'] = true;
  const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
  const sig = createHmac('sha256', secret).update(`v1.${body}`).digest('base64url');
  return `v1.${body}.${sig}`;
}
