/**
 * The relay's one error class. Catalog (code — meaning — what to do):
 * - `RELAY_CONFIG_INVALID` — a flag or config-file value is wrong; the message names it and
 *   the accepted form. Fix the command line or the file.
 * - `RELAY_UPSTREAM_UNREACHABLE` — the VM's VSCard port refused or timed out. Start the VM
 *   with the printed QEMU options, check `--target`.
 * - `RELAY_UPSTREAM_CLOSED` — the VM's side closed or failed during a session.
 * - `RELAY_UPSTREAM_PROTOCOL` — the VM sent bytes that are not VSCard.
 * - `RELAY_BAD_FRAME` — the browser sent something that is not one valid VSCard message.
 * - `RELAY_LISTEN_FAILED` — the listener could not bind (port in use, no permission).
 */
export type RelayErrorCode =
  | 'RELAY_CONFIG_INVALID'
  | 'RELAY_UPSTREAM_UNREACHABLE'
  | 'RELAY_UPSTREAM_CLOSED'
  | 'RELAY_UPSTREAM_PROTOCOL'
  | 'RELAY_BAD_FRAME'
  | 'RELAY_LISTEN_FAILED';

/** The relay's one error class; branch on `code`. */
export class RelayError extends Error {
  override readonly name = 'RelayError';
  readonly code: RelayErrorCode;
  constructor(code: RelayErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}
