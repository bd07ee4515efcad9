/**
 * Keys and certificates for the PIV demo card: an RSA 2048 key made with WebCrypto
 * (globalThis.crypto.subtle, browsers and Node alike), exported as JWK, and a self-signed X.509
 * certificate made with @peculiar/x509, plus (by default) a P-256 key and certificate for slot 9E. Generation takes a few hundred ms, so results are cached
 * per process and can be passed in pre-generated (they are plain JSON-able data).
 */
import 'reflect-metadata'; // @peculiar/x509 uses tsyringe, which needs the Reflect metadata API
import * as x509 from '@peculiar/x509';
import type { RsaJwk } from './rsa.ts';

/** Everything the demo card needs; JSON-serialisable except for the Uint8Array (use hex/base64). */
export interface PivCredentials {
  /** Private RSA key of slot 9A (PIV Authentication) as a JWK with n, e, d, p, q, dp, dq, qi. */
  readonly rsaPrivateJwk: RsaJwk;
  /** DER X.509 certificate for slot 9A (self-signed with that key, SHA-256 with RSA). */
  readonly certificateDer: Uint8Array;
  /** Private P-256 key of slot 9E (Card Authentication, PIV algorithm 11) as a JWK with d, x, y. */
  readonly ecPrivateJwk?: { readonly d?: string; readonly x?: string; readonly y?: string };
  /** DER X.509 certificate for slot 9E (self-signed, ECDSA with SHA-256). */
  readonly ecCertificateDer?: Uint8Array;
}

/** Options of generatePivCredentials. */
export interface GeneratePivCredentialsOptions {
  /** Subject and issuer CN, default "cardlend demo PIV". */
  readonly commonName?: string;
  /** RSA modulus length in bits: 2048 (PIV alg 07, default) or 1024 (alg 06). */
  readonly modulusBits?: 1024 | 2048;
  /** Also make the P-256 card-authentication key and certificate (default true). */
  readonly withEcc?: boolean;
}

interface SubtleLike {
  generateKey(
    alg: unknown,
    extractable: boolean,
    usages: string[],
  ): Promise<{ privateKey: unknown; publicKey: unknown }>;
  exportKey(format: 'jwk', key: unknown): Promise<RsaJwk & { x?: string; y?: string }>;
}

function webCrypto(): { subtle: SubtleLike } {
  const c = (globalThis as { crypto?: { subtle?: SubtleLike } }).crypto;
  if (!c?.subtle) throw new Error('WebCrypto (globalThis.crypto.subtle) is not available');
  return c as { subtle: SubtleLike };
}

/** Generates a fresh RSA key and self-signed certificate (~200 ms for 2048 bits). */
export async function generatePivCredentials(
  opts: GeneratePivCredentialsOptions = {},
): Promise<PivCredentials> {
  const crypto = webCrypto();
  const alg = {
    name: 'RSASSA-PKCS1-v1_5',
    hash: 'SHA-256',
    publicExponent: new Uint8Array([1, 0, 1]),
    modulusLength: opts.modulusBits ?? 2048,
  };
  const keys = await crypto.subtle.generateKey(alg, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: '0c4d1e2f3a5b6c7d',
      name: `CN=${opts.commonName ?? 'cardlend demo PIV'}, O=cardlend`,
      notBefore: new Date(Date.UTC(2024, 0, 1)),
      notAfter: new Date(Date.UTC(2049, 11, 31)),
      signingAlgorithm: alg,
      keys: keys as never,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.nonRepudiation,
          true,
        ),
      ],
    },
    crypto as never,
  );
  const rsaPrivateJwk = await crypto.subtle.exportKey('jwk', keys.privateKey);
  const base = { rsaPrivateJwk, certificateDer: new Uint8Array(cert.rawData) };
  if (opts.withEcc === false) return base;
  const ecAlg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const ecKeys = await crypto.subtle.generateKey(ecAlg, true, ['sign', 'verify']);
  const ecCert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: '0c4d1e2f3a5b6c7e',
      name: `CN=${opts.commonName ?? 'cardlend demo PIV'} card authentication, O=cardlend`,
      notBefore: new Date(Date.UTC(2024, 0, 1)),
      notAfter: new Date(Date.UTC(2049, 11, 31)),
      signingAlgorithm: ecAlg,
      keys: ecKeys as never,
      extensions: [new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true)],
    },
    crypto as never,
  );
  const ec = await crypto.subtle.exportKey('jwk', ecKeys.privateKey);
  return {
    ...base,
    ecPrivateJwk: {
      ...(ec.d ? { d: ec.d } : {}),
      ...(ec.x ? { x: ec.x } : {}),
      ...(ec.y ? { y: ec.y } : {}),
    },
    ecCertificateDer: new Uint8Array(ecCert.rawData),
  };
}

let cached: Promise<PivCredentials> | undefined;

/** The per-process shared credentials (generated once on first use). */
export function getDefaultPivCredentials(): Promise<PivCredentials> {
  cached ??= generatePivCredentials();
  return cached;
}
