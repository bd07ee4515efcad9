/**
 * The shapes around the lending state machine: what the UI sees (BridgeState), and the
 * machine's inputs and outputs (LendingAction, ReaderRequest, ReaderResult).
 */
import type { ApduLogEntry } from '../apdu-log.ts';
import type { BridgeError, BridgeErrorCode, BridgeErrorSource } from '../errors.ts';
import type { ResumeStatus } from './resume.ts';

/**
 * State of the VM link: `idle` before start; `connecting` (first attempt); `lent` (reader
 * announced; the card too if `card` is set and no error); `refused` (the relay or the VM
 * said no: token, VM in use, or the card's ATR — see `error`); `reconnecting` (waiting to
 * retry after a drop); `stopped` (ended: stop(), reader unplugged, relay ended the
 * session); `failed` (ended by an error that retrying cannot fix).
 */
export type LinkState =
  'idle' | 'connecting' | 'lent' | 'refused' | 'reconnecting' | 'stopped' | 'failed';

/** The card as lent. */
export interface BridgeCardState {
  /** The card's own ATR. */
  atr: Uint8Array;
  /** Protocol the reader runs with the card. */
  protocol: 0 | 1;
  /** The ATR announced to the VM (differs when the T=0 compatibility form is used). */
  presentedAtr: Uint8Array;
  /** True when `presentedAtr` is the T=0-compatible rewrite. */
  isT0Compat: boolean;
  /** Why QEMU 7.2 is expected to refuse `presentedAtr` (qemu72AcceptsAtr), or `null`. */
  predictedRefusal: string | null;
  /** `pending`: ATR sent, no ack yet; `accepted`/`refused` by the VM; `not-sent`: no VM link yet. */
  vmStatus: 'not-sent' | 'pending' | 'accepted' | 'refused';
}

/** Everything the UI shows about the bridge. A new object on every change. */
export interface BridgeState {
  link: LinkState;
  card: BridgeCardState | null;
  /**
   * What went wrong: the bridge's code (what it does about it), a log message, and the
   * original failure with its own code (`source`, always set by the bridge; pass it to
   * @cardlend/problems for the words to show).
   */
  error: { code: BridgeErrorCode; message: string; source?: BridgeErrorSource } | null;
  /** The relay's close code of the last connection, when it closed. */
  closeCode?: number;
  /** Reconnect attempt number (1-based) while `reconnecting`. */
  reconnectAttempt?: number;
  /** When the next attempt starts (bridge clock, ms) while `reconnecting`. */
  nextRetryAtMs?: number;
  /**
   * Resuming the lending session after a drop (issue 14 §1), absent when it does not apply:
   * `resuming` while reconnecting with the relay's resume ticket; `resumed` once the VM has the
   * reader again in the same session; `cannot-resume` when the relay no longer holds the session
   * (grace over, ticket used, relay restarted) or the retries ran out with the ticket.
   */
  resume?: ResumeStatus;
  /**
   * The relay's latest notice about this VM's channel (a text frame, e.g. `nagle-suspected`:
   * the VM's chardev lacks nodelay=on and each guest command waits ~40 ms), for the helpdesk
   * details; the connection goes on. Kept for the rest of this bridge's life.
   */
  relayNotice?: { code: string; typicalStallMs?: number };
  /**
   * A power on of the card in the slot failed in a way that may heal (another program held the
   * card, the reader did not answer in time, …) and the bridge tries again by itself
   * (lending/power-retry.ts); absent otherwise. While it is set, the failure is held back here
   * instead of in `error`; if the last retry fails too, it becomes `error`.
   */
  powerOnRetry?: PowerOnRetryState;
}

/** `BridgeState.powerOnRetry`: the bridge retries a failed power on of the card. */
export interface PowerOnRetryState {
  /** The retry (1-based) that is pending or in progress, of `maxAttempts`. */
  attempt: number;
  maxAttempts: number;
  /** When that retry starts (bridge clock, ms). */
  nextAtMs: number;
  /** The failure of the attempt before it, the same shape as `error`. */
  error: NonNullable<BridgeState['error']>;
}

/** A diagnostic line. */
export interface BridgeLogEvent {
  level: 'debug' | 'info' | 'warn';
  message: string;
  data?: Record<string, unknown>;
}

/** A call the reader slot must make; its result comes back through `readerDone(id, …)`. */
export type ReaderRequest =
  | { id: number; kind: 'slot-status' }
  | { id: number; kind: 'power-on' }
  | { id: number; kind: 'power-off' }
  | { id: number; kind: 'transmit'; apdu: Uint8Array };

/** How a reader call ended: its value, or what it threw. */
export type ReaderResult = { ok: true; value: unknown } | { ok: false; error: unknown };

/** The machine's timers; at most one of each is armed. */
export type TimerName = 'reconnect' | 'session' | 'stop' | 'power-off' | 'power-on';

/** What the owner of a {@link LendingMachine} must do, in order. */
export type LendingAction =
  /**
   * Open a WebSocket to the relay; its events come back tagged with `socket`. With `ticket`,
   * present that resume ticket instead of the token.
   */
  | { type: 'open-socket'; socket: number; ticket?: string }
  /** Write a binary frame on `socket` if it is open. */
  | { type: 'send'; socket: number; bytes: Uint8Array }
  /** Close `socket` if it is open or opening; the machine has forgotten it already or waits for its close. */
  | { type: 'close-socket'; socket: number; code: number; reason: string }
  /** Run a reader call (one at a time, in request order). */
  | { type: 'reader'; request: ReaderRequest }
  /** Call `timerFired(timer)` at `atMs` (bridge clock); replaces the timer of that name. */
  | { type: 'arm-timer'; timer: TimerName; atMs: number }
  | { type: 'cancel-timer'; timer: TimerName }
  /** The new state, for listeners. */
  | { type: 'state'; state: BridgeState }
  /** One answered guest command for the APDU log. */
  | { type: 'apdu-log'; entry: ApduLogEntry }
  | { type: 'log'; event: BridgeLogEvent }
  /** The VM acknowledged the reader: `start()` resolves. */
  | { type: 'started' }
  /** Lending ended before that: `start()` rejects with `error`. */
  | { type: 'start-failed'; error: BridgeError }
  /** Lending is over: stop listening to the reader; `stop()` resolves. */
  | { type: 'ended' };
