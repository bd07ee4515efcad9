/**
 * The operator API over HTTPS with client certificates (config `"operator.tls"`): its PEM
 * files, checked like the VM listener's (tls-files.ts), and its handshake limit. The listener's
 * options (a client certificate the operator CA signed is required) are client-cert-tls.ts's;
 * the bearer secret is still checked on every request (operator-api.ts).
 */
import type { OperatorTlsConfig } from '../config/types.ts';
import {
  loadCertKeyCaFiles,
  readFileBytes,
  type ReadBytes,
  type TlsMaterial,
} from '../tls-files.ts';

export type { TlsMaterial } from '../tls-files.ts';

/** Longest TLS handshake of an operator connection, ms; slower peers are cut off. */
export const OPERATOR_TLS_HANDSHAKE_TIMEOUT_MS = 10_000;

/**
 * Reads and checks `operator.tls`'s PEM files (certificate not expired, key belongs to it, CA
 * file of CA certificates); throws `RELAY_CONFIG_INVALID` naming `operator.tls.<key>`, the file
 * and what is wrong.
 */
export function loadOperatorTlsFiles(
  files: OperatorTlsConfig,
  readBytes: ReadBytes = readFileBytes,
  nowMs: number = Date.now(),
): TlsMaterial {
  return loadCertKeyCaFiles(files, (key) => `operator.tls.${key}`, readBytes, nowMs);
}
