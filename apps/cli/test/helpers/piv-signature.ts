/**
 * What the host reads from the guest's `pkcs11-sign` RESULT marker (hex fields cert, sig,
 * sha256sig): the certificate the guest read, the data its raw RSA signature recovers to,
 * and whether its SHA-256 signature of `signed` verifies with the certificate's key. The test
 * asserts on these (the certificate is the card's, the data is what the guest signed).
 */
import { constants, publicDecrypt, verify, X509Certificate } from 'node:crypto';
import { hexToBytes } from '@cardlend/guest-image';

export interface PivSignatureCheck {
  readonly cert: Buffer;
  readonly recovered: string;
  readonly isSha256Valid: boolean;
}

export function checkPivSignature(
  fields: Readonly<Record<string, string>>,
  signed: string,
): PivSignatureCheck {
  const cert = Buffer.from(hexToBytes(fields['cert'] ?? ''));
  const key = new X509Certificate(cert).publicKey;
  const sig = hexToBytes(fields['sig'] ?? '');
  const recovered = publicDecrypt({ key, padding: constants.RSA_PKCS1_PADDING }, sig);
  const sig256 = hexToBytes(fields['sha256sig'] ?? '');
  return {
    cert,
    recovered: recovered.toString('utf8'),
    isSha256Valid: verify('sha256', Buffer.from(signed), key, sig256),
  };
}
