/**
 * Why the TLS dial-in listener (dial-in-tls.ts) refused a VM's handshake, in words a relay
 * operator acts on, the OpenSSL or Node code kept in parentheses (who it was:
 * `rememberRemotes`, client-cert-tls.ts).
 */
import type tls from 'node:tls';

/**
 * Why the listener refused a connection before it named a target, for the metrics
 * (`cardlend_relay_vm_tls_refusals_total`): a failed or unverified handshake, a connection
 * beyond the listener's cap, a verified certificate no target names.
 */
export const VM_TLS_REFUSAL_KINDS = ['tls-handshake', 'over-cap', 'unknown-certificate'] as const;

export type VmTlsRefusalKind = (typeof VM_TLS_REFUSAL_KINDS)[number];

/** OpenSSL's codes for a first record that is no TLS (plain VSCard, HTTP, ...). */
const PLAIN_BYTES =
  /^ERR_SSL_(WRONG_VERSION_NUMBER|HTTP_REQUEST|HTTPS_PROXY_REQUEST|UNKNOWN_PROTOCOL|PACKET_LENGTH_TOO_LONG|RECORD_LAYER_FAILURE)$/;

/** OpenSSL's codes for a client offering only TLS versions older than the listener's. */
const OLD_TLS = /^ERR_SSL_(UNSUPPORTED_PROTOCOL|NO_PROTOCOLS_AVAILABLE|VERSION_TOO_LOW)$/;

/** Certificate errors with words of their own; any other one does not verify against the CA. */
const CERT_WORDS: Readonly<Record<string, string>> = {
  CERT_HAS_EXPIRED: "the VM's client certificate has expired",
  CERT_NOT_YET_VALID: "the VM's client certificate is not valid yet",
  INVALID_PURPOSE: "the VM's certificate is not made for TLS clients (extended key usage)",
};

/**
 * Why a VM's handshake failed. `code`: the error's code (or message); `refused`: the socket's
 * `authorizationError` when the client certificate did not verify (the error is then only
 * the reset of a connection Node ended itself).
 */
export function vmHandshakeFailure(code: string, refused: string | undefined): string {
  if (refused)
    return `${CERT_WORDS[refused] ?? "the VM's client certificate is not signed by the VM CA (--vm-tls-ca)"} (${refused})`;
  if (code === 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE')
    return `the VM sent no client certificate; QEMU sends one only when the VM CA (--vm-tls-ca) issued it (${code})`;
  if (PLAIN_BYTES.test(code))
    return `the VM does not speak TLS (a chardev without tls-creds=, or not QEMU at all) (${code})`;
  if (OLD_TLS.test(code))
    return `the VM offers no TLS version the relay accepts (TLS 1.2 or later) (${code})`;
  if (/^ERR_SSL_(TLSV1|SSLV3|TLSV13)_ALERT_/.test(code))
    return `the VM refused the relay's certificate or TLS (check its ca-cert.pem and the chardev's host=) (${code})`;
  if (code === 'ERR_TLS_HANDSHAKE_TIMEOUT')
    return `the VM did not finish its handshake in time (${code})`;
  if (code === 'ECONNRESET' || code === 'EPIPE')
    return `the VM closed the connection in the handshake; did it refuse the relay's certificate? (${code})`;
  return code;
}

/** The refusal reason of a failed handshake (`tlsClientError`), for a `vm-refused` event. */
export function describeVmHandshakeFailure(
  e: NodeJS.ErrnoException,
  socket: tls.TLSSocket,
): string {
  const refused = socket.authorizationError as unknown;
  const why = vmHandshakeFailure(e.code ?? e.message, refused ? String(refused) : undefined);
  return `TLS handshake failed: ${why}`;
}
