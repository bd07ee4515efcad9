/**
 * What went wrong, with the code it came with (never renamed on the way): a CCID driver code,
 * a relay close code, a VSCard code, a PC/SC code, a bridge code, or a condition the client
 * detected itself. `BridgeError.source` of @cardlend/bridge has this shape, so it can be
 * passed as it is. Codes are strings, not the packages' unions: a code from a newer version
 * of a package still gets an explanation (its family's fallback) instead of a type error.
 */
import { BRIDGE_CLOSE_RENAMES, problemForBridgeCode } from './sources/bridge.ts';
import type { PageCondition } from './sources/page.ts';

export type Failure =
  /** A reader or card error: a `CcidErrorCode` such as `CCID_DEVICE_BUSY`; USB ids fill the Linux udev step. */
  | { kind: 'ccid'; code: string; vendorId?: number; productId?: number }
  /** The relay closed the WebSocket with this code (`RelayClose`, or 1006/1015 from the platform). */
  | { kind: 'relay-close'; code: number; reason?: string }
  /** A VSCard protocol error (`VscardErrorCode`). */
  | { kind: 'vscard'; code: string }
  /** A PC/SC return code by name (`SCARD_E_NO_SERVICE`) or value (0x8010001D). */
  | { kind: 'pcsc'; code: string | number; reader?: string }
  /** A refusal by the local helper (`HelperErrorCode` of @cardlend/helper-protocol, e.g. `HELPER_READER_IN_USE`). */
  | { kind: 'helper'; code: string }
  /** A failure the bridge detected itself (`BridgeErrorCode`, e.g. `BRIDGE_ATR_REFUSED`). */
  | { kind: 'bridge'; code: string }
  /**
   * A condition the client detected. `reason` (the client's own sentence) is the cause of a
   * form problem; `expiredAt` (the client's clock text) fills `token-expired`; `closeCode` is the
   * relay close the condition explains (shown in the reference).
   */
  | { kind: 'page'; code: PageCondition; reason?: string; expiredAt?: string; closeCode?: number }
  /** Anything else; `code` (when the error had one) is shown as the reference. */
  | { kind: 'unknown'; code?: string };

/** The kinds of source a failure can have. */
export type FailureKind = Failure['kind'];

/**
 * A failure from a bare code string, told apart by its prefix (`CCID_`, `VSCARD_`, `SCARD_`,
 * `HELPER_`, `BRIDGE_`); anything else is `unknown`. For errors that arrive without their source.
 */
export function failureFromCode(code: string): Failure {
  if (code.startsWith('CCID_')) return { kind: 'ccid', code };
  if (code.startsWith('VSCARD_')) return { kind: 'vscard', code };
  if (code.startsWith('SCARD_')) return { kind: 'pcsc', code };
  if (code.startsWith('HELPER_')) return { kind: 'helper', code };
  if (problemForBridgeCode(code) !== null) return { kind: 'bridge', code };
  return { kind: 'unknown', code };
}

/**
 * A failure from what a bridge state reports: its error (with the source when it carries
 * one) and the relay's close code. The source wins; then a close code other than 1000 wins
 * over a bridge code that only renames a relay close (and over an unknown code); else the code.
 */
export function failureFromState(
  error: { code: string; source?: Failure } | null,
  closeCode?: number,
): Failure {
  if (error?.source !== undefined) return error.source;
  const isCloseWorthMore =
    closeCode !== undefined &&
    closeCode !== 1000 &&
    (error === null ||
      BRIDGE_CLOSE_RENAMES.has(error.code) ||
      failureFromCode(error.code).kind === 'unknown');
  if (isCloseWorthMore) return { kind: 'relay-close', code: closeCode };
  return error === null ? { kind: 'unknown' } : failureFromCode(error.code);
}
