/**
 * The one place a session asks whether a whole, valid VSCard message may pass: a per-direction
 * policy `(frame, state) => forward | refuse(closeCode, reason)`, with a state it keeps per
 * session. Without a policy every valid message passes (the relay's own checks — framing,
 * validation, limits — run either way).
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
  | typeof FORWARD
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
  /** VM → browser: called for each whole message from QEMU before it is sent to the browser. */
  toBrowser?(frame: RelayFrame, state: S): FrameVerdict;
}
