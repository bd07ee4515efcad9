/**
 * Raw RSA private-key operation with BigInt and the CRT (PKCS #1 v2.2 §5.1.2, RSADP/RSASP1).
 * The PIV card receives an already padded block (OpenSC pads PKCS#1 itself) and returns m^d mod n.
 */

/** RSA private key material as BigInts (from a JWK). */
export interface RsaPrivateKey {
  readonly n: bigint;
  readonly e: bigint;
  readonly d: bigint;
  readonly p: bigint;
  readonly q: bigint;
  readonly dp: bigint;
  readonly dq: bigint;
  readonly qi: bigint;
  /** Modulus length in bytes. */
  readonly size: number;
}

/** The RSA fields of a JsonWebKey (base64url strings). */
export interface RsaJwk {
  readonly n?: string;
  readonly e?: string;
  readonly d?: string;
  readonly p?: string;
  readonly q?: string;
  readonly dp?: string;
  readonly dq?: string;
  readonly qi?: string;
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** Decodes base64url (no padding needed) to bytes. */
export function base64UrlToBytes(s: string): Uint8Array {
  const clean = s.replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
  const out = new Uint8Array(Math.floor((clean.length * 3) / 4));
  let bits = 0;
  let acc = 0;
  let o = 0;
  for (const ch of clean) {
    const v = B64.indexOf(ch);
    if (v < 0) throw new RangeError('bad base64url');
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  return out.subarray(0, o);
}

/** Big-endian bytes → bigint. */
export function bytesToBigInt(b: Uint8Array): bigint {
  let x = 0n;
  for (const v of b) x = (x << 8n) | BigInt(v);
  return x;
}

/** bigint → big-endian bytes of exactly `size` bytes. */
export function bigIntToBytes(x: bigint, size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = size - 1; i >= 0; i--) {
    out[i] = Number(x & 0xffn);
    x >>= 8n;
  }
  return out;
}

/** base^exp mod m by square-and-multiply. */
export function modPow(base: bigint, exp: bigint, m: bigint): bigint {
  let result = 1n;
  let b = base % m;
  let e = exp;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % m;
    b = (b * b) % m;
    e >>= 1n;
  }
  return result;
}

/** Builds the BigInt key from a private RSA JWK. Throws RangeError when a field is missing. */
export function rsaKeyFromJwk(jwk: RsaJwk): RsaPrivateKey {
  const get = (k: keyof RsaJwk): bigint => {
    const v = jwk[k];
    if (!v) throw new RangeError(`RSA JWK lacks ${k}`);
    return bytesToBigInt(base64UrlToBytes(v));
  };
  const nBytes = base64UrlToBytes(jwk.n ?? '');
  let size = nBytes.length;
  while (size > 0 && nBytes[nBytes.length - size] === 0) size--;
  return {
    n: get('n'),
    e: get('e'),
    d: get('d'),
    p: get('p'),
    q: get('q'),
    dp: get('dp'),
    dq: get('dq'),
    qi: get('qi'),
    size,
  };
}

/** RSASP1 / RSADP: c^d mod n via the CRT. `input` must be < n and exactly `key.size` bytes. */
export function rsaPrivate(key: RsaPrivateKey, input: Uint8Array): Uint8Array | null {
  const c = bytesToBigInt(input);
  if (c >= key.n) return null;
  const m1 = modPow(c, key.dp, key.p);
  const m2 = modPow(c, key.dq, key.q);
  let h = ((m1 - m2) * key.qi) % key.p;
  if (h < 0n) h += key.p;
  return bigIntToBytes(m2 + h * key.q, key.size);
}
