/**
 * Why the TLS dial-in listener (dial-in-tls.ts) refused a VM's handshake, in words a relay
 * operator acts on, the OpenSSL or Node code kept in parentheses (who it was:
 * `rememberRemotes`, client-cert-tls.ts).
 */
import type tls from 'node:tls';
import {
  classifyHandshakeFailure,
  refusedHandshake,
  type HandshakeFailure,
  type HandshakeFailureKind,
} from './tls-handshake-failure.ts';

/**
 * Why the listener refused a connection before it named a target, for the metrics
 * (`cardlend_relay_vm_tls_refusals_total`): a failed or unverified handshake, a connection
 * beyond the listener's cap, a verified certificate no target names.
 */
export const VM_TLS_REFUSAL_KINDS = ['tls-handshake', 'over-cap', 'unknown-certificate'] as const;

export type VmTlsRefusalKind = (typeof VM_TLS_REFUSAL_KINDS)[number];

/** Certificate errors with words of their own; any other one does not verify against the CA. */
const CERT_WORDS: Readonly<Record<string, string>> = {
  CERT_HAS_EXPIRED: "the VM's client certificate has expired",
  CERT_NOT_YET_VALID: "the VM's client certificate is not valid yet",
  INVALID_PURPOSE: "the VM's certificate is not made for TLS clients (extended key usage)",
};

/** The words of each other kind of failure, the code following in parentheses. */
const KIND_WORDS: Readonly<Record<Exclude<HandshakeFailureKind, 'unverified' | 'other'>, string>> =
  {
    'no-certificate':
      'the VM sent no client certificate; QEMU sends one only when the VM CA (--vm-tls-ca) issued it',
    plain: 'the VM does not speak TLS (a chardev without tls-creds=, or not QEMU at all)',
    'old-tls': 'the VM offers no TLS version the relay accepts (TLS 1.2 or later)',
    alert:
      "the VM refused the relay's certificate or TLS (check its ca-cert.pem and the chardev's host=)",
    timeout: 'the VM did not finish its handshake in time',
    closed: "the VM closed the connection in the handshake; did it refuse the relay's certificate?",
  };

/** Why a VM's handshake failed (`code` and `refused`: see {@link classifyHandshakeFailure}). */
export function vmHandshakeFailure(code: string, refused: string | undefined): string {
  return vmWords(classifyHandshakeFailure(code, refused));
}

function vmWords({ kind, code }: HandshakeFailure): string {
  if (kind === 'other') return code;
  const words =
    kind === 'unverified'
      ? (CERT_WORDS[code] ?? "the VM's client certificate is not signed by the VM CA (--vm-tls-ca)")
      : KIND_WORDS[kind];
  return `${words} (${code})`;
}

/** The refusal reason of a failed handshake (`tlsClientError`), for a `vm-refused` event. */
export function describeVmHandshakeFailure(
  e: NodeJS.ErrnoException,
  socket: tls.TLSSocket,
): string {
  return `TLS handshake failed: ${vmWords(refusedHandshake(e, socket))}`;
}
