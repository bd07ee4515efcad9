/**
 * The one place a session asks whether a whole VSCard message may pass: a per-direction
 * policy `(frame, state) => forward | drop | refuse(closeCode, reason)`, with a state it keeps
 * per session (made by `init`). Without a policy every valid message passes (the relay's own
 * checks — framing, validation, limits — run either way).
 *
 * - `toVm`: each valid browser message, before it is written to QEMU.
 * - `toBrowser`: each whole message from QEMU, in every phase, before it may go to the
 *   browser (`drop`: never to the browser — e.g. QEMU's reply to a message the relay wrote
 *   itself; the relay's own bookkeeping still sees it, except a dropped guest command, which
 *   the policy answers itself with its probe and which is then not outstanding).
 * - `fromRelay`: each message the relay itself writes to QEMU (the cleanup's VSC_Error
 *   answers, CardRemove, ReaderRemove, and its answers while parked); `refuse` or `drop`: not
 *   written.
 * - `resume`: a new browser connection took a parked session over.
 *
 * A `forward` or `drop` verdict may carry a `probe`: whole client messages the relay writes
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

/**
 * What a policy decides for one frame. A `toVm` forward may carry `bytes`: the message to
 * write instead of the frame (e.g. the first piece of a long answer the relay splits).
 */
export type FrameVerdict =
  | { readonly action: 'forward'; readonly probe?: Uint8Array; readonly bytes?: Uint8Array }
  | { readonly action: 'drop'; readonly probe?: Uint8Array }
  | { readonly action: 'refuse'; readonly closeCode: number; readonly reason: string };

/** Refuses a frame: the session closes the browser with `closeCode`/`reason` and cleans up the VM. */
export function refuseFrame(closeCode: number, reason: string): FrameVerdict {
  return { action: 'refuse', closeCode, reason };
}

/** What a session tells its policy when it starts. */
export interface FramePolicyContext {
  /** The WebSocket subprotocol the relay selected (`cardlend.vscard.v1`, or its long-answers form). */
  readonly protocol: string;
}

/** Something a policy noticed about the session, for the log, metrics and the page. */
export interface PolicyNotice {
  /** Stable name, e.g. `nagle-suspected`. */
  readonly code: string;
  /** One sentence a person can read. */
  readonly message: string;
  /** Numbers for the log (no payload bytes). */
  readonly fields: Readonly<Record<string, number | boolean | string>>;
}

/** A per-direction frame policy with per-session state `S`. */
export interface FramePolicy<S = unknown> {
  /** A fresh state for a new session. */
  init(ctx?: FramePolicyContext): S;
  /** Browser → VM: called for each valid client message before it is written to QEMU. */
  toVm?(frame: RelayFrame, state: S): FrameVerdict;
  /** VM → browser: called for each whole message from QEMU before it may reach the browser. */
  toBrowser?(frame: RelayFrame, state: S): FrameVerdict;
  /** Relay → VM: called for each message the relay itself writes to QEMU. */
  fromRelay?(frame: RelayFrame, state: S): FrameVerdict;
  /**
   * A reconnect with the resume ticket took the parked session over (issue 14 §1): what the
   * state kept for the old browser connection now belongs to the relay.
   */
  resume?(state: S): void;
  /** Each chunk as read from QEMU's socket, with the session clock; may report a notice. */
  vmChunk?(chunk: Uint8Array, nowMs: number, state: S): PolicyNotice | undefined;
}
