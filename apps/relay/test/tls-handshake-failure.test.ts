/**
 * The one classification of a failed TLS handshake that the VM listener, the link and the
 * operator API put in their own words (src/tls-handshake-failure.ts).
 */
import { describe, expect, it } from 'vitest';
import { classifyHandshakeFailure, type HandshakeFailure } from '../src/tls-handshake-failure.ts';

const cases: [code: string, refused: string | undefined, expected: HandshakeFailure][] = [
  // A listener with rejectUnauthorized: only a reset, the certificate error on the socket.
  [
    'ECONNRESET',
    'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    { kind: 'unverified', code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' },
  ],
  ['ECONNRESET', 'CERT_HAS_EXPIRED', { kind: 'unverified', code: 'CERT_HAS_EXPIRED' }],
  // A dialling side: the certificate error is the error's code.
  [
    'UNABLE_TO_GET_ISSUER_CERT',
    undefined,
    { kind: 'unverified', code: 'UNABLE_TO_GET_ISSUER_CERT' },
  ],
  ['CERT_NOT_YET_VALID', undefined, { kind: 'unverified', code: 'CERT_NOT_YET_VALID' }],
  [
    'SELF_SIGNED_CERT_IN_CHAIN',
    undefined,
    { kind: 'unverified', code: 'SELF_SIGNED_CERT_IN_CHAIN' },
  ],
  [
    'DEPTH_ZERO_SELF_SIGNED_CERT',
    undefined,
    { kind: 'unverified', code: 'DEPTH_ZERO_SELF_SIGNED_CERT' },
  ],
  ['INVALID_PURPOSE', undefined, { kind: 'unverified', code: 'INVALID_PURPOSE' }],
  [
    'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE',
    undefined,
    { kind: 'no-certificate', code: 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE' },
  ],
  [
    'ERR_SSL_WRONG_VERSION_NUMBER',
    undefined,
    { kind: 'plain', code: 'ERR_SSL_WRONG_VERSION_NUMBER' },
  ],
  ['ERR_SSL_HTTP_REQUEST', undefined, { kind: 'plain', code: 'ERR_SSL_HTTP_REQUEST' }],
  [
    'ERR_SSL_HTTPS_PROXY_REQUEST',
    undefined,
    { kind: 'plain', code: 'ERR_SSL_HTTPS_PROXY_REQUEST' },
  ],
  [
    'ERR_SSL_RECORD_LAYER_FAILURE',
    undefined,
    { kind: 'plain', code: 'ERR_SSL_RECORD_LAYER_FAILURE' },
  ],
  [
    'ERR_SSL_UNSUPPORTED_PROTOCOL',
    undefined,
    { kind: 'old-tls', code: 'ERR_SSL_UNSUPPORTED_PROTOCOL' },
  ],
  ['ERR_SSL_VERSION_TOO_LOW', undefined, { kind: 'old-tls', code: 'ERR_SSL_VERSION_TOO_LOW' }],
  [
    'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA',
    undefined,
    { kind: 'alert', code: 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA' },
  ],
  [
    'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED',
    undefined,
    { kind: 'alert', code: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED' },
  ],
  [
    'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE',
    undefined,
    { kind: 'alert', code: 'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE' },
  ],
  ['ERR_TLS_HANDSHAKE_TIMEOUT', undefined, { kind: 'timeout', code: 'ERR_TLS_HANDSHAKE_TIMEOUT' }],
  ['ECONNRESET', undefined, { kind: 'closed', code: 'ECONNRESET' }],
  ['EPIPE', undefined, { kind: 'closed', code: 'EPIPE' }],
  ['ERR_SOMETHING_NEW', undefined, { kind: 'other', code: 'ERR_SOMETHING_NEW' }],
  ['socket hang up', undefined, { kind: 'other', code: 'socket hang up' }],
];

describe('classifyHandshakeFailure', () => {
  it.each(cases)('%s (authorizationError %s)', (code, refused, expected) => {
    expect(classifyHandshakeFailure(code, refused)).toEqual(expected);
  });
});
