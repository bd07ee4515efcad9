/**
 * The one classification of a failed TLS handshake that the VM listener, the link and the
 * operator API put in their own words (src/tls-handshake-failure.ts).
 */
import { describe, expect, it } from 'vitest';
import {
  classifyHandshakeFailure,
  type HandshakeFailureKind,
} from '../src/tls-handshake-failure.ts';

/** Error codes (a dialling side's, or a listener's own) and the kind each is. */
const CODES: Readonly<Record<HandshakeFailureKind, readonly string[]>> = {
  unverified: [
    'UNABLE_TO_GET_ISSUER_CERT',
    'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    'CERT_HAS_EXPIRED',
    'CERT_NOT_YET_VALID',
    'SELF_SIGNED_CERT_IN_CHAIN',
    'DEPTH_ZERO_SELF_SIGNED_CERT',
    'INVALID_PURPOSE',
  ],
  'no-certificate': ['ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE'],
  plain: [
    'ERR_SSL_WRONG_VERSION_NUMBER',
    'ERR_SSL_HTTP_REQUEST',
    'ERR_SSL_HTTPS_PROXY_REQUEST',
    'ERR_SSL_RECORD_LAYER_FAILURE',
  ],
  'old-tls': ['ERR_SSL_UNSUPPORTED_PROTOCOL', 'ERR_SSL_VERSION_TOO_LOW'],
  alert: [
    'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA',
    'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED',
    'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE',
  ],
  timeout: ['ERR_TLS_HANDSHAKE_TIMEOUT'],
  closed: ['ECONNRESET', 'EPIPE'],
  other: ['ERR_SOMETHING_NEW', 'socket hang up'],
};

const table = Object.entries(CODES).flatMap(([kind, codes]) => codes.map((c) => [c, kind]));

describe('classifyHandshakeFailure', () => {
  it.each(table)('%s is %s, its code kept', (code, kind) => {
    expect(classifyHandshakeFailure(code, undefined)).toEqual({ kind, code });
  });

  it.each(['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'CERT_HAS_EXPIRED', 'SOMETHING_NEW'])(
    'a reset after a listener refused the certificate (%s) is unverified, shown by that error',
    (refused) => {
      expect(classifyHandshakeFailure('ECONNRESET', refused)).toEqual({
        kind: 'unverified',
        code: refused,
      });
    },
  );
});
