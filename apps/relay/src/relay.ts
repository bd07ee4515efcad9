/**
 * One relay session: pumps VSCard messages between an already-open browser WebSocket and an
 * already-open TCP connection to QEMU's `ccid-card-passthru` chardev (style.md, "Relay").
 *
 * - Browser → VM: each binary frame must be exactly one valid client message
 *   (`validateClientFrame`); only whole, checked messages are written to TCP. Anything else
 *   closes the session with `RelayClose.BAD_FRAME` and none of it reaches QEMU.
 * - VM → browser: QEMU's byte stream is cut into whole messages (`VscardFramer`), one per
 *   binary frame. A guest command may carry up to `VSCARD_MAX_GUEST_COMMAND_BYTES` (65 526)
 *   payload bytes, so a frame to the browser is at most 12 + 65 526 bytes (the browser → VM
 *   direction stays at 65 524). Bytes that are not VSCard close with `RelayClose.VM_PROTOCOL`.
 * - Browser gone (any reason): every guest command still outstanding is answered with
 *   `VSC_Error`, then (after a grace for the guest to read those answers, which CardRemove
 *   would clear: {@link GUEST_ANSWER_GRACE_MS}) `CardRemove` and `ReaderRemove` are sent,
 *   their acks awaited (bounded), and TCP is closed with a FIN — so the guest never waits forever and QEMU's 128-command
 *   FIFO is never approached (vscard-protocol.md §4, §5, §6 rules 7–8).
 * - VM gone: the browser gets `RelayClose.VM_CLOSED` with a reason it can show.
 * - Backpressure both ways: `socket.write() === false` pauses the WebSocket; more than
 *   `maxBufferedToBrowserBytes` queued towards the browser pauses the TCP socket.
 * - Memory: an idle session is this object, its framer and counters; the socket and WebSocket
 *   listeners are functions shared by every session (they find the session through a symbol
 *   on the emitter), and no promise is pending unless someone reads {@link RelaySession.done}.
 */
import type { Socket } from 'node:net';
import {
  isVscardError,
  RelayClose,
  validateClientFrame,
  VSC,
  VSCARD_MAX_GUEST_COMMAND_BYTES,
  VscardFramer,
} from '@cardlend/vscard';
import type { RawData, WebSocket } from 'ws';
import { DEFAULT_MESSAGE_RATE, TokenBucket, type TokenBucketOptions } from './limits/rate-limit.ts';
import { refusalClose } from './limits/refusals.ts';
import { CARD_REMOVE, GUEST_COMMAND_ERROR, READER_REMOVE } from './vm-messages.ts';

/** Session lifecycle: relaying; removing the card from the VM after the browser left; done. */
export type SessionPhase = 'open' | 'cleanup' | 'closed';

/** Why a session ended. */
export type SessionEndReason =
  'browser-closed' | 'bad-frame' | 'vm-closed' | 'vm-error' | 'vm-protocol' | 'relay-closed';

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
  | { kind: 'vm-protocol'; code: string; message: string }
  | { kind: 'vm-error'; code: string; message: string }
  | { kind: 'browser-error'; message: string }
  | { kind: 'cleanup'; answered: number }
  | { kind: 'backpressure'; side: 'vm' | 'browser'; isPaused: boolean }
  /** The session hit a limit and is being closed with that refusal (limits/refusals.ts). */
  | { kind: 'limit'; refusal: 'message-rate' | 'slow-reader' };

export interface RelaySessionOptions {
  /** An open WebSocket (subprotocol already negotiated). */
  ws: WebSocket;
  /** An open TCP connection to the VM's VSCard chardev. */
  tcp: Socket;
  /** Wait at most this long for QEMU's acks during cleanup, ms. Default 1000. */
  cleanupAckTimeoutMs?: number;
  /**
   * After answering outstanding guest commands with VSC_Error during cleanup, wait this long
   * before CardRemove, ms (default {@link GUEST_ANSWER_GRACE_MS}; 0 sends it at once).
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
  /**
   * Messages from the browser: sustained rate and burst; beyond it the session closes with
   * RATE_LIMITED. Answers (APDU or Error) to outstanding guest commands are exempt: QEMU
   * already paces those, one per guest command. Default {@link DEFAULT_MESSAGE_RATE}; `null`
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
   * Receives the session's events and its end, as methods of one object shared for the
   * session's life (cheaper than closures when thousands of sessions are idle).
   */
  handler?: SessionHandler;
  /**
   * Told of the browser's pongs (heartbeat). Traffic is not reported per message: the
   * heartbeat reads {@link RelaySession.messageCount} when it visits the session.
   */
  activity?: SessionActivity;
}

/** Per-session callbacks, as methods (see {@link RelaySessionOptions.handler}). */
export interface SessionHandler {
  onSessionEvent?(e: SessionEvent): void;
  /** Called once, when both sides are closed (the same value {@link RelaySession.done} resolves to). */
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

/** Guest-command timestamps kept for latency; QEMU itself holds at most 128 (§4). */
const MAX_TRACKED_COMMANDS = 1024;

/**
 * Time the guest gets to fetch the failed answers before CardRemove, ms. QEMU's usb-ccid
 * queues an answer in its bulk-in buffer until the guest's driver reads it, and CardRemove
 * (like ReaderRemove) resets the device state, clearing that buffer (`ccid_card_card_removed`
 * → `ccid_reset` → `ccid_bulk_in_clear`). An Error answer followed at once by CardRemove is
 * therefore lost whenever the guest had not yet posted its read, and the guest's driver then
 * waits out its own timeout (minutes with libccid). Seen with a loaded host: QEMU read all
 * three messages in one go.
 */
export const GUEST_ANSWER_GRACE_MS = 500;

const VM_CLOSED_MESSAGE = 'The VM closed the connection (QEMU stopped or restarted).';

/** Close reasons are limited to 123 bytes (RFC 6455 §5.5.1). */
export function clampReason(reason: string): string {
  let out = reason;
  while (Buffer.byteLength(out, 'utf8') > 123) out = out.slice(0, -1);
  return out;
}

function toBytes(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

function noop(): void {}

const SEND_BINARY = { binary: true } as const;

function defaultNow(): number {
  return performance.now();
}

/** The session an emitter (socket or WebSocket) belongs to. */
const kSession = Symbol('cardlend.relaySession');
interface Carrier {
  [kSession]?: RelaySession;
}

const CONTROL_EXPECTING_REPLY: ReadonlySet<number> = new Set([
  VSC.Init,
  VSC.ReaderAdd,
  VSC.ReaderRemove,
  VSC.ATR,
  VSC.CardRemove,
]);

/** Types after which QEMU has answered or dropped every outstanding guest command (§6 rule 5). */
const FLUSHES_GUEST_COMMANDS: ReadonlySet<number> = new Set([
  VSC.ATR,
  VSC.CardRemove,
  VSC.ReaderRemove,
]);

export class RelaySession {
  readonly #ws: WebSocket;
  readonly #tcp: Socket;
  /** QEMU's stream: a guest command may be 2 bytes longer than any client message. */
  readonly #framer = new VscardFramer({ maxPayloadBytes: VSCARD_MAX_GUEST_COMMAND_BYTES });
  readonly #cleanupAckTimeoutMs: number;
  readonly #guestAnswerGraceMs: number;
  #isWaitingForAcks = false;
  readonly #tcpCloseTimeoutMs: number;
  readonly #wsCloseTimeoutMs: number;
  readonly #maxBufferedToBrowserBytes: number;
  readonly #onEvent: (e: SessionEvent) => void;
  readonly #stats: SessionStats = {
    messagesFromBrowser: 0,
    bytesFromBrowser: 0,
    messagesToBrowser: 0,
    bytesToBrowser: 0,
    guestCommands: 0,
  };
  #phase: SessionPhase = 'open';
  #outstanding = 0;
  #pendingReplies = 0;
  #isVmOpen = true;
  #isBrowserOpen = true;
  #isVmPaused = false;
  #isBrowserPaused = false;
  #endReason: SessionEndReason = 'browser-closed';
  #closeCode: number | undefined;
  #closeReason = '';
  #browserCloseCode: number | undefined;
  readonly #observer: SessionObserver | undefined;
  readonly #now: () => number;
  /** Arrival times of outstanding guest commands (oldest first); only with an observer. */
  #commandTimes: number[] | undefined;
  readonly #bucket: TokenBucket | undefined;
  readonly #slowReaderTimeoutMs: number;
  #slowReaderTimer: NodeJS.Timeout | undefined;
  #answeredOnCleanup = 0;
  #isCleanupAcked = false;
  #cleanupTimer: NodeJS.Timeout | undefined;
  #graceTimer: NodeJS.Timeout | undefined;
  #tcpCloseTimer: NodeJS.Timeout | undefined;
  #wsCloseTimer: NodeJS.Timeout | undefined;
  #isFinFlushed = false;
  readonly #handler: SessionHandler | undefined;
  readonly #activity: SessionActivity | undefined;
  #end: SessionEnd | undefined;
  #done: Promise<SessionEnd> | undefined;
  #resolveDone: ((end: SessionEnd) => void) | undefined;

  constructor(opts: RelaySessionOptions) {
    this.#ws = opts.ws;
    this.#tcp = opts.tcp;
    this.#cleanupAckTimeoutMs = opts.cleanupAckTimeoutMs ?? 1000;
    this.#guestAnswerGraceMs = opts.guestAnswerGraceMs ?? GUEST_ANSWER_GRACE_MS;
    this.#tcpCloseTimeoutMs = opts.tcpCloseTimeoutMs ?? 1000;
    this.#wsCloseTimeoutMs = opts.wsCloseTimeoutMs ?? 2000;
    this.#maxBufferedToBrowserBytes = opts.maxBufferedToBrowserBytes ?? 256 * 1024;
    this.#onEvent = opts.onEvent ?? noop;
    this.#handler = opts.handler;
    this.#activity = opts.activity;
    this.#observer = opts.observer;
    this.#now = opts.now ?? defaultNow;
    const rate = opts.messageRate === undefined ? DEFAULT_MESSAGE_RATE : opts.messageRate;
    this.#bucket = rate === null ? undefined : new TokenBucket(rate);
    this.#slowReaderTimeoutMs = opts.slowReaderTimeoutMs ?? 10_000;

    const tcp = this.#tcp;
    tcp.setNoDelay(true);
    (tcp as Carrier)[kSession] = this;
    tcp.on('data', RelaySession.#tcpData);
    tcp.on('drain', RelaySession.#tcpDrain);
    tcp.on('error', RelaySession.#tcpError);
    tcp.on('end', RelaySession.#tcpEnd);
    tcp.on('close', RelaySession.#tcpClose);

    const ws = this.#ws;
    (ws as Carrier)[kSession] = this;
    ws.on('message', RelaySession.#wsMessage);
    ws.on('error', RelaySession.#wsError);
    ws.on('close', RelaySession.#wsClose);
    if (this.#activity) ws.on('pong', RelaySession.#wsPong);

    if (tcp.destroyed || tcp.readyState !== 'open') {
      queueMicrotask(() => this.#onVmGone('vm-closed', 'The VM connection was already closed.'));
    }
    if (ws.readyState !== ws.OPEN) {
      this.#isBrowserOpen = ws.readyState !== ws.CLOSED;
      queueMicrotask(() => this.#startCleanup('browser-closed', true));
    }
    if (opts.initialVmBytes && opts.initialVmBytes.length > 0)
      this.#onVmData(Buffer.from(opts.initialVmBytes));
    for (const m of opts.initialMessages ?? []) this.#onBrowserMessage(m.data, m.isBinary);
  }

  // Listeners shared by every session; `this` is the emitter.

  static #tcpData(this: Socket, chunk: Buffer): void {
    const s = (this as Carrier)[kSession];
    if (s) s.#onVmData(chunk);
  }

  static #tcpDrain(this: Socket): void {
    const s = (this as Carrier)[kSession];
    if (s) s.#onVmDrain();
  }

  static #tcpError(this: Socket, e: NodeJS.ErrnoException): void {
    const s = (this as Carrier)[kSession];
    if (!s) return;
    s.#emit({ kind: 'vm-error', code: e.code ?? 'EUNKNOWN', message: e.message });
    s.#onVmGone('vm-error', `The connection to the VM failed (${e.code ?? e.message}).`);
  }

  static #tcpEnd(this: Socket): void {
    const s = (this as Carrier)[kSession];
    if (s) s.#onVmGone('vm-closed', VM_CLOSED_MESSAGE);
  }

  static #tcpClose(this: Socket): void {
    const s = (this as Carrier)[kSession];
    if (!s) return;
    s.#onVmGone('vm-closed', VM_CLOSED_MESSAGE);
    s.#isVmOpen = false;
    s.#maybeFinish();
  }

  static #wsMessage(this: WebSocket, data: RawData, isBinary: boolean): void {
    const s = (this as Carrier)[kSession];
    if (s) s.#onBrowserMessage(data, isBinary);
  }

  static #wsError(this: WebSocket, e: Error): void {
    const s = (this as Carrier)[kSession];
    if (s) s.#emit({ kind: 'browser-error', message: e.message });
  }

  static #wsClose(this: WebSocket, code: number): void {
    const s = (this as Carrier)[kSession];
    if (!s) return;
    s.#browserCloseCode = code;
    s.#isBrowserOpen = false;
    if (s.#wsCloseTimer) clearTimeout(s.#wsCloseTimer);
    s.#startCleanup('browser-closed', true);
    s.#maybeFinish();
  }

  static #wsPong(this: WebSocket): void {
    const s = (this as Carrier)[kSession];
    if (s) s.#activity?.notePong();
  }

  static #terminateWs(s: RelaySession): void {
    s.#ws.terminate();
  }

  static #destroyTcp(s: RelaySession): void {
    s.#tcp.destroy();
  }

  static #cleanupTimeout(s: RelaySession): void {
    s.#finishCleanup(false);
  }

  static #graceOver(s: RelaySession): void {
    s.#graceTimer = undefined;
    s.#removeCard();
  }

  static #slowReader(s: RelaySession): void {
    s.#limit('slow-reader');
  }

  /** Resolves once both sides are closed. Never rejects. Created on first use. */
  get done(): Promise<SessionEnd> {
    if (!this.#done) {
      const end = this.#end;
      this.#done = end
        ? Promise.resolve(end)
        : new Promise<SessionEnd>((resolve) => (this.#resolveDone = resolve));
    }
    return this.#done;
  }

  #emit(e: SessionEvent): void {
    this.#onEvent(e);
    this.#handler?.onSessionEvent?.(e);
  }

  /** Current phase. */
  get phase(): SessionPhase {
    return this.#phase;
  }

  /** Guest commands QEMU sent that the browser has not answered yet. */
  get outstandingGuestCommands(): number {
    return this.#outstanding;
  }

  /** Bytes queued towards the browser (`ws.bufferedAmount`). */
  get bufferedToBrowserBytes(): number {
    return this.#ws.bufferedAmount;
  }

  /** Bytes queued towards the VM in this process (`socket.writableLength`). */
  get bufferedToVmBytes(): number {
    return this.#tcp.writableLength;
  }

  /** Whether reading from the VM is paused for backpressure. */
  get isVmPaused(): boolean {
    return this.#isVmPaused;
  }

  /** Whether reading from the browser is paused for backpressure. */
  get isBrowserPaused(): boolean {
    return this.#isBrowserPaused;
  }

  get stats(): Readonly<SessionStats> {
    return this.#stats;
  }

  /** Messages relayed either way so far: the heartbeat's measure of activity (idle timeout). */
  get messageCount(): number {
    return this.#stats.messagesFromBrowser + this.#stats.messagesToBrowser;
  }

  /**
   * Ends the session from the relay's side (shutdown, idle timeout, ...): the browser gets
   * `code`/`reason`, the VM gets the usual cleanup.
   */
  close(code: number, reason: string): void {
    if (this.#phase !== 'open') return;
    this.#closeBrowser(code, reason);
    this.#startCleanup('relay-closed', true);
  }

  /**
   * Graceful end for a shutdown (ops/shutdown.ts `Drainable`): the browser gets 1001, the VM
   * its cleanup; resolves when both sides are closed.
   */
  async drain(): Promise<void> {
    this.close(RelayClose.GOING_AWAY, 'The relay is shutting down.');
    await this.done;
  }

  /** Ends both sides at once (a shutdown deadline passed). */
  abort(): void {
    this.#tcp.destroy();
    this.#ws.terminate();
  }

  // Browser → VM

  #onBrowserMessage(data: RawData, isBinary: boolean): void {
    if (this.#phase !== 'open') return;
    if (!isBinary) {
      this.#badFrame(
        'TEXT_FRAME',
        'Text frames are not allowed: send one binary VSCard message per frame.',
      );
      return;
    }
    const bytes = toBytes(data);
    let type: number;
    try {
      type = validateClientFrame(bytes).type;
    } catch (e) {
      if (!isVscardError(e)) throw e;
      this.#badFrame(e.code, `Bad VSCard frame (${e.code}): ${e.message}`);
      return;
    }
    const isAnswer = (type === VSC.APDU || type === VSC.Error) && this.#outstanding > 0;
    // Answers to outstanding guest commands are paced by QEMU (one per command): not limited.
    if (!isAnswer && this.#bucket && !this.#bucket.take(this.#now())) {
      this.#limit('message-rate');
      return;
    }
    // The bytes leave first; the bookkeeping below is not on the round trip's path (nothing
    // it updates is read before QEMU's reply, which arrives in a later event).
    const isWritable = this.#tcp.write(bytes);
    this.#stats.messagesFromBrowser++;
    this.#stats.bytesFromBrowser += bytes.length;
    if (isAnswer) {
      this.#outstanding--;
      const issuedAt = this.#commandTimes?.shift();
      if (issuedAt !== undefined) this.#observer?.apduAnswered(this.#now() - issuedAt);
    } else if (FLUSHES_GUEST_COMMANDS.has(type)) {
      this.#outstanding = 0;
      if (this.#commandTimes) this.#commandTimes.length = 0;
    }
    this.#observer?.bytes('to_vm', bytes.length);
    if (CONTROL_EXPECTING_REPLY.has(type)) this.#pendingReplies++;
    if (!isWritable && !this.#isBrowserPaused) {
      this.#isBrowserPaused = true;
      this.#ws.pause();
      this.#emit({ kind: 'backpressure', side: 'browser', isPaused: true });
    }
  }

  #onVmDrain(): void {
    if (this.#isBrowserPaused) {
      this.#isBrowserPaused = false;
      if (this.#isBrowserOpen) this.#ws.resume();
      this.#emit({ kind: 'backpressure', side: 'browser', isPaused: false });
    }
  }

  #limit(refusal: 'message-rate' | 'slow-reader'): void {
    if (this.#phase !== 'open') return;
    this.#emit({ kind: 'limit', refusal });
    const { code, reason } = refusalClose(refusal);
    this.close(code, reason);
  }

  #badFrame(code: string, message: string): void {
    this.#emit({ kind: 'bad-frame', code, message });
    this.#closeBrowser(RelayClose.BAD_FRAME, message);
    this.#startCleanup('bad-frame', true);
  }

  // VM → browser

  #onVmData(chunk: Buffer): void {
    let frames;
    try {
      frames = this.#framer.push(chunk);
    } catch (e) {
      if (!isVscardError(e)) throw e;
      this.#emit({ kind: 'vm-protocol', code: e.code, message: e.message });
      if (this.#phase === 'open') {
        this.#closeBrowser(
          RelayClose.VM_PROTOCOL,
          `The VM sent bytes that are not VSCard (${e.code}).`,
        );
        this.#startCleanup('vm-protocol', false);
      } else if (this.#phase === 'cleanup') {
        this.#finishCleanup(false);
      }
      return;
    }
    for (const f of frames) {
      // Send first: the bookkeeping after it is not on the round trip's path.
      const isSent = this.#phase === 'open' && this.#isBrowserOpen;
      if (isSent) {
        // The send callback only serves to resume a paused VM side, and a pause needs the
        // last queued frame to carry one: a frame queued behind others, or one that alone
        // exceeds the limit. While nothing is queued (the usual case) none is allocated.
        if (this.#ws.bufferedAmount > 0 || f.bytes.length > this.#maxBufferedToBrowserBytes)
          this.#ws.send(f.bytes, SEND_BINARY, this.#sentCallback());
        else this.#ws.send(f.bytes, SEND_BINARY);
        this.#stats.messagesToBrowser++;
        this.#stats.bytesToBrowser += f.bytes.length;
        this.#observer?.bytes('to_browser', f.bytes.length);
      }
      if (f.type === VSC.APDU) {
        this.#stats.guestCommands++;
        if (this.#phase === 'open') {
          this.#outstanding++;
          if (this.#observer) {
            const times = (this.#commandTimes ??= []);
            if (times.length >= MAX_TRACKED_COMMANDS) times.shift();
            times.push(this.#now());
          }
        }
      } else if ((f.type === VSC.Error || f.type === VSC.Init) && this.#pendingReplies > 0) {
        this.#pendingReplies--;
      }
    }
    if (this.#phase === 'cleanup' && this.#pendingReplies === 0 && this.#cleanupTimer) {
      this.#finishCleanup(true);
      return;
    }
    if (
      this.#phase === 'open' &&
      !this.#isVmPaused &&
      this.#ws.bufferedAmount > this.#maxBufferedToBrowserBytes
    ) {
      this.#isVmPaused = true;
      this.#tcp.pause();
      this.#emit({ kind: 'backpressure', side: 'vm', isPaused: true });
      this.#slowReaderTimer = setTimeout(RelaySession.#slowReader, this.#slowReaderTimeoutMs, this);
    }
  }

  #sentCallback(): () => void {
    return () => this.#onBrowserSent();
  }

  #onBrowserSent(): void {
    if (this.#isVmPaused && this.#ws.bufferedAmount <= this.#maxBufferedToBrowserBytes / 2) {
      this.#isVmPaused = false;
      this.#tcp.resume();
      if (this.#slowReaderTimer) clearTimeout(this.#slowReaderTimer);
      this.#emit({ kind: 'backpressure', side: 'vm', isPaused: false });
    }
  }

  #onVmGone(reason: SessionEndReason, message: string): void {
    if (this.#phase === 'open') {
      this.#endReason = reason;
      this.#phase = 'closed';
      this.#isVmOpen = !this.#tcp.destroyed;
      this.#tcp.destroy();
      this.#closeBrowser(RelayClose.VM_CLOSED, message);
    } else if (this.#phase === 'cleanup') {
      this.#clearCleanupTimer();
      this.#tcp.destroy();
    }
    this.#maybeFinish();
  }

  // Cleanup towards the VM

  /**
   * The browser side is gone (or being closed): answer outstanding guest commands with
   * VSC_Error, then (after {@link GUEST_ANSWER_GRACE_MS} if there were any) CardRemove +
   * ReaderRemove; wait (bounded) for acks when `isWaitingForAcks`.
   */
  #startCleanup(reason: SessionEndReason, isWaitingForAcks: boolean): void {
    if (this.#phase !== 'open') return;
    this.#phase = 'cleanup';
    this.#endReason = reason;
    if (this.#slowReaderTimer) clearTimeout(this.#slowReaderTimer);
    if (this.#isVmPaused) this.#tcp.resume();
    if (this.#tcp.destroyed || !this.#tcp.writable) {
      this.#isVmOpen = false;
      this.#maybeFinish();
      return;
    }
    const answered = this.#outstanding;
    this.#answeredOnCleanup = answered;
    this.#emit({ kind: 'cleanup', answered });
    for (let i = 0; i < answered; i++) this.#tcp.write(GUEST_COMMAND_ERROR);
    this.#outstanding = 0;
    this.#isWaitingForAcks = isWaitingForAcks && this.#framer.state !== 'failed';
    // A QEMU that sends garbage is not waited for; otherwise the guest gets time to read.
    if (answered > 0 && this.#guestAnswerGraceMs > 0 && this.#isWaitingForAcks) {
      this.#graceTimer = setTimeout(RelaySession.#graceOver, this.#guestAnswerGraceMs, this);
    } else {
      this.#removeCard();
    }
  }

  #removeCard(): void {
    if (this.#isFinFlushed || this.#tcp.destroyed || !this.#tcp.writable) return;
    this.#tcp.write(CARD_REMOVE);
    this.#tcp.write(READER_REMOVE);
    this.#pendingReplies += 2;
    if (this.#isWaitingForAcks) {
      this.#cleanupTimer = setTimeout(
        RelaySession.#cleanupTimeout,
        this.#cleanupAckTimeoutMs,
        this,
      );
    } else {
      this.#finishCleanup(false);
    }
  }

  #clearCleanupTimer(): void {
    if (this.#cleanupTimer) clearTimeout(this.#cleanupTimer);
    this.#cleanupTimer = undefined;
    if (this.#graceTimer) clearTimeout(this.#graceTimer);
    this.#graceTimer = undefined;
  }

  #finishCleanup(isAcked: boolean): void {
    if (this.#isFinFlushed) return;
    this.#isFinFlushed = true;
    this.#isCleanupAcked = isAcked;
    this.#clearCleanupTimer();
    // FIN after every queued write; keep reading until QEMU closes (an RST caused by unread
    // data could cut a message and leave a partial one in QEMU's buffer, §5).
    this.#tcp.end();
    this.#tcpCloseTimer = setTimeout(RelaySession.#destroyTcp, this.#tcpCloseTimeoutMs, this);
  }

  #closeBrowser(code: number, reason: string): void {
    if (this.#closeCode !== undefined) return;
    this.#closeCode = code;
    this.#closeReason = clampReason(reason);
    if (this.#ws.readyState === this.#ws.OPEN || this.#ws.readyState === this.#ws.CONNECTING) {
      this.#ws.close(code, this.#closeReason);
      this.#wsCloseTimer = setTimeout(RelaySession.#terminateWs, this.#wsCloseTimeoutMs, this);
    }
  }

  #maybeFinish(): void {
    if (this.#phase === 'cleanup' && !this.#isVmOpen) this.#phase = 'closed';
    if (this.#phase !== 'closed' || this.#isVmOpen || this.#isBrowserOpen) return;
    this.#clearCleanupTimer();
    if (this.#tcpCloseTimer) clearTimeout(this.#tcpCloseTimer);
    if (this.#wsCloseTimer) clearTimeout(this.#wsCloseTimer);
    if (this.#end) return;
    const end: SessionEnd = {
      reason: this.#endReason,
      closeCode: this.#closeCode,
      closeReason: this.#closeReason,
      browserCloseCode: this.#browserCloseCode,
      endedBy:
        this.#endReason === 'relay-closed'
          ? 'relay'
          : this.#endReason.startsWith('vm-')
            ? 'vm'
            : 'browser',
      answeredOnCleanup: this.#answeredOnCleanup,
      isCleanupAcked: this.#isCleanupAcked,
      stats: { ...this.#stats },
    };
    this.#end = end;
    this.#commandTimes = undefined;
    this.#resolveDone?.(end);
    this.#handler?.onSessionEnd?.(end);
  }
}
