/**
 * The vocabulary of one relay session (session/relay-session.ts): its options, its events,
 * its end, the hooks the server plugs in (handler, heartbeat, metrics), and the per-direction
 * frame policy.
 */
import type { RawData, WebSocket } from 'ws';
import type { Socket } from 'node:net';
import type { TokenBucketOptions } from '../limits/rate-limit.ts';
import type { FramePolicy, PolicyNotice } from './frame-policy.ts';
import type { SessionTimers } from './timers.ts';

/** Session lifecycle: relaying; removing the card from the VM after the browser left; done. */
export type SessionPhase = 'open' | 'cleanup' | 'closed';

/** Why a session ended. */
export type SessionEndReason =
  | 'browser-closed'
  | 'bad-frame'
  | 'frame-refused'
  | 'vm-closed'
  | 'vm-error'
  | 'vm-protocol'
  | 'relay-closed';

/** Counters (bytes include the 12-byte headers). */
export interface SessionStats {
  messagesFromBrowser: number;
  bytesFromBrowser: number;
  messagesToBrowser: number;
  bytesToBrowser: number;
  /** APDUs from QEMU (guest commands). */
  guestCommands: number;
}

/** Summary when a session is over. */
export interface SessionEnd {
  reason: SessionEndReason;
  /** The close code the relay sent to the browser, if it initiated the close. */
  closeCode: number | undefined;
  closeReason: string;
  /** The close code the browser's close frame carried (1005 none, 1006 connection lost). */
  browserCloseCode: number | undefined;
  /** Who ended the session. */
  endedBy: 'browser' | 'vm' | 'relay';
  /** Guest commands the relay answered with VSC_Error during cleanup. */
  answeredOnCleanup: number;
  /** Whether QEMU acknowledged every control message before TCP was closed. */
  isCleanupAcked: boolean;
  stats: SessionStats;
}

/** Structured events for logs and metrics (never payload bytes). */
export type SessionEvent =
  | { kind: 'bad-frame'; code: string; message: string }
  /** The frame policy refused a frame (`direction` it travelled). */
  | { kind: 'frame-refused'; direction: 'to-vm' | 'to-browser'; closeCode: number; reason: string }
  | { kind: 'vm-protocol'; code: string; message: string }
  | { kind: 'vm-error'; code: string; message: string }
  | { kind: 'browser-error'; message: string }
  | { kind: 'cleanup'; answered: number }
  /** The frame policy noticed something (e.g. `nagle-suspected`: the VM's chardev lacks nodelay=on). */
  | { kind: 'notice'; notice: PolicyNotice }
  | { kind: 'backpressure'; side: 'vm' | 'browser'; isPaused: boolean }
  /** The session hit a limit and is being closed with that refusal (limits/refusals.ts). */
  | { kind: 'limit'; refusal: 'message-rate' | 'slow-reader' }
  /** The browser dropped; the VM side waits `graceMs` for a resume (`answered` guest commands got VSC_Error). */
  | { kind: 'parked'; answered: number; graceMs: number }
  /** A reconnect with the resume ticket took over the parked session. */
  | { kind: 'resumed' }
  /** Nobody resumed within the grace: the usual cleanup removes the card. */
  | { kind: 'resume-expired' };

export interface RelaySessionOptions {
  /** An open WebSocket (subprotocol already negotiated). */
  ws: WebSocket;
  /** An open TCP connection to the VM's VSCard chardev. */
  tcp: Socket;
  /** Wait at most this long for QEMU's acks during cleanup, ms. Default 1000. */
  cleanupAckTimeoutMs?: number;
  /**
   * After answering outstanding guest commands with VSC_Error during cleanup, wait this long
   * before CardRemove, ms (default `GUEST_ANSWER_GRACE_MS`; 0 sends it at once).
   */
  guestAnswerGraceMs?: number;
  /** After sending FIN, wait at most this long for QEMU's close before destroying, ms. Default 1000. */
  tcpCloseTimeoutMs?: number;
  /** Wait at most this long for the browser's close handshake before terminating, ms. Default 2000. */
  wsCloseTimeoutMs?: number;
  /** Pause reading TCP above this many bytes queued to the browser. Default 262144. */
  maxBufferedToBrowserBytes?: number;
  onEvent?: (e: SessionEvent) => void;
  /** Hot-path counters (metrics); called synchronously, must not throw. */
  observer?: SessionObserver;
  /**
   * Frames the server received before the session existed (e.g. right after first-message
   * authentication); validated and forwarded first, in order.
   */
  initialMessages?: readonly { data: RawData; isBinary: boolean }[];
  /** Bytes the VM sent before the session existed (dial-in handover); framed first. */
  initialVmBytes?: Uint8Array;
  /** Clock for APDU latency and the rate limit, ms. Default `performance.now()`. */
  now?: () => number;
  /** The session's timers (grace, acks, FIN, close handshake, slow reader). Default Node's. */
  timers?: SessionTimers;
  /**
   * Messages from the browser: sustained rate and burst; beyond it the session closes with
   * RATE_LIMITED. Answers (APDU or Error) to outstanding guest commands are exempt: QEMU
   * already paces those, one per guest command. Default `DEFAULT_MESSAGE_RATE`; `null`
   * disables.
   */
  messageRate?: TokenBucketOptions | null;
  /**
   * A browser that leaves the VM paused (not reading its messages) for this long is closed
   * with RATE_LIMITED: while paused, QEMU's own writes stall its emulation thread
   * (vscard-protocol.md §5). Default 10 000 ms.
   */
  slowReaderTimeoutMs?: number;
  /**
   * Consulted for every whole, valid message before it is forwarded, per direction (none by
   * default here; the server's default is the forward guard, session/guard-policy.ts).
   */
  framePolicy?: FramePolicy | null;
  /**
   * Receives the session's events and its end, as methods of one object shared for the
   * session's life (cheaper than closures when thousands of sessions are idle).
   */
  handler?: SessionHandler;
  /**
   * Told of the browser's pongs (heartbeat). Traffic is not reported per message: the
   * heartbeat reads `RelaySession.messageCount` when it visits the session.
   */
  activity?: SessionActivity;
}

/** Per-session callbacks, as methods (see {@link RelaySessionOptions.handler}). */
export interface SessionHandler {
  onSessionEvent?(e: SessionEvent): void;
  /** Called once, when both sides are closed (the value `RelaySession.done` resolves to). */
  onSessionEnd?(end: SessionEnd): void;
}

/** Heartbeat hook (limits/heartbeat.ts `HeartbeatHandle` fits). */
export interface SessionActivity {
  notePong(): void;
}

/** Counters for metrics. */
export interface SessionObserver {
  /** Bytes of whole VSCard messages passed on (`to_vm`: written to TCP; `to_browser`: sent on the WebSocket). */
  bytes(direction: 'to_vm' | 'to_browser', count: number): void;
  /** A guest command was answered by the browser (APDU or Error) after `latencyMs`. */
  apduAnswered(latencyMs: number): void;
}
