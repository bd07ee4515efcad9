/**
 * The one place a session asks whether a whole VSCard message may pass: a per-direction
 * policy `(frame, state) => forward | drop | refuse(closeCode, reason)`, with a state it keeps
 * per session (made by `init`). Without a policy every valid message passes (the relay's own
 * checks — framing, validation, limits — run either way).
 *
 * - `toVm`: each valid browser message, before it is written to QEMU.
 * - `toBrowser`: each whole message from QEMU, in every phase, before it may go to the
 *   browser (`drop`: never to the browser — e.g. QEMU's reply to a message the relay wrote
 *   itself; the relay's own bookkeeping still sees it).
 * - `fromRelay`: each message the relay itself writes to QEMU (the cleanup's VSC_Error
 *   answers, CardRemove, ReaderRemove); `refuse` or `drop`: not written.
 *
 * A `forward` or `drop` verdict may carry a `probe`: a whole client message the relay writes
 * to QEMU right after (after the frame itself, when that is written to QEMU), counted like its
 * own control messages (QEMU's reply to it is expected). This is the shape issue 11's
 * forward guard (`ForwardGuard` in @cardlend/vscard) plugs into.
 */

/** A whole VSCard message on its way through the relay. */
export interface RelayFrame {
  /** VSCard message type (`VSC`). */
  readonly type: number;
  /** The whole message, header included. Not to be kept or changed. */
  readonly bytes: Uint8Array;
}

/** Pass the frame on. */
export const FORWARD = { action: 'forward' } as const;

/** What a policy decides for one frame. */
export type FrameVerdict =
  | { readonly action: 'forward'; readonly probe?: Uint8Array }
  | { readonly action: 'drop'; readonly probe?: Uint8Array }
  | { readonly action: 'refuse'; readonly closeCode: number; readonly reason: string };

/** Refuses a frame: the session closes the browser with `closeCode`/`reason` and cleans up the VM. */
export function refuseFrame(closeCode: number, reason: string): FrameVerdict {
  return { action: 'refuse', closeCode, reason };
}

/** A per-direction frame policy with per-session state `S`. */
export interface FramePolicy<S = unknown> {
  /** A fresh state for a new session. */
  init(): S;
  /** Browser → VM: called for each valid client message before it is written to QEMU. */
  toVm?(frame: RelayFrame, state: S): FrameVerdict;
  /** VM → browser: called for each whole message from QEMU before it may reach the browser. */
  toBrowser?(frame: RelayFrame, state: S): FrameVerdict;
  /** Relay → VM: called for each message the relay itself writes to QEMU. */
  fromRelay?(frame: RelayFrame, state: S): FrameVerdict;
}
