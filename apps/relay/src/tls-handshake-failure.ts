/**
 * What a failed TLS handshake was, from its OpenSSL or Node code: the one classification the
 * VM listener (vm-tls-refusal.ts), the link (cluster/link-tls.ts) and the operator API share;
 * each puts the kinds it meets in words of its own.
 */
import type tls from 'node:tls';

/**
 * - `unverified`: the peer's certificate does not verify against the CA (another CA,
 *   expired, not made for the purpose);
 * - `no-certificate`: the client sent none;
 * - `plain`: the first bytes are no TLS record (plain TCP, HTTP, ...);
 * - `old-tls`: the peer offers only TLS versions older than ours;
 * - `alert`: the peer refused our certificate or TLS;
 * - `timeout`: the handshake took too long;
 * - `closed`: the peer reset or closed the connection;
 * - `other`: none of these.
 */
export type HandshakeFailureKind =
  'unverified' | 'no-certificate' | 'plain' | 'old-tls' | 'alert' | 'timeout' | 'closed' | 'other';

export interface HandshakeFailure {
  readonly kind: HandshakeFailureKind;
  /** The code to show: the certificate error for `unverified`, else the error's code. */
  readonly code: string;
}

/** OpenSSL's codes for a first record that is no TLS (plain VSCard, a hello line, HTTP, ...). */
const PLAIN_BYTES =
  /^ERR_SSL_(WRONG_VERSION_NUMBER|HTTP_REQUEST|HTTPS_PROXY_REQUEST|UNKNOWN_PROTOCOL|PACKET_LENGTH_TOO_LONG|RECORD_LAYER_FAILURE)$/;

/** OpenSSL's codes for a peer offering only TLS versions older than ours. */
const OLD_TLS = /^ERR_SSL_(UNSUPPORTED_PROTOCOL|NO_PROTOCOLS_AVAILABLE|VERSION_TOO_LOW)$/;

/** OpenSSL's codes for a peer chain the local CA does not verify. */
const UNVERIFIED =
  /^(UNABLE_TO_|CERT_|SELF_SIGNED_|DEPTH_ZERO_|INVALID_CA|PATH_LENGTH|INVALID_PURPOSE)/;

/** OpenSSL's codes for an alert the peer sent. */
const ALERT = /^ERR_SSL_(TLSV1|SSLV3|TLSV13)_ALERT_/;

/**
 * What a handshake failure was. `code`: the error's code (or message); `refused`: the socket's
 * `authorizationError` when the peer's certificate did not verify (a listener with
 * `rejectUnauthorized` then ends the connection itself: the error is only its reset).
 */
export function classifyHandshakeFailure(
  code: string,
  refused: string | undefined,
): HandshakeFailure {
  if (refused) return { kind: 'unverified', code: refused };
  return { kind: kindOfCode(code), code };
}

function kindOfCode(code: string): HandshakeFailureKind {
  if (UNVERIFIED.test(code)) return 'unverified';
  if (code === 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE') return 'no-certificate';
  if (PLAIN_BYTES.test(code)) return 'plain';
  if (OLD_TLS.test(code)) return 'old-tls';
  if (ALERT.test(code)) return 'alert';
  if (code === 'ERR_TLS_HANDSHAKE_TIMEOUT') return 'timeout';
  if (code === 'ECONNRESET' || code === 'EPIPE') return 'closed';
  return 'other';
}

/** The failure of a listener's `tlsClientError` (error and socket as Node passes them). */
export function refusedHandshake(
  e: NodeJS.ErrnoException,
  socket: tls.TLSSocket,
): HandshakeFailure {
  const refused = socket.authorizationError as unknown;
  return classifyHandshakeFailure(e.code ?? e.message, refused ? String(refused) : undefined);
}
