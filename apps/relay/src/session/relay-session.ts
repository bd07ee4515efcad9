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
 * - A frame policy (session/frame-policy.ts), when given, sees every whole message of either
 *   direction before it is passed on, and may refuse it (close code and reason of its own).
 * - Browser gone (any reason): every guest command still outstanding is answered with
 *   `VSC_Error`, then (after a grace for the guest to read those answers, which CardRemove
 *   would clear: {@link GUEST_ANSWER_GRACE_MS}) `CardRemove` and `ReaderRemove` are sent,
 *   their acks awaited (bounded), and TCP is closed with a FIN — so the guest never waits
 *   forever and QEMU's 128-command FIFO is never approached (vscard-protocol.md §4, §5,
 *   §6 rules 7–8).
 * - VM gone: the browser gets `RelayClose.VM_CLOSED` with a reason it can show.
 * - Backpressure both ways: `socket.write() === false` pauses the WebSocket; more than
 *   `maxBufferedToBrowserBytes` queued towards the browser pauses the TCP socket.
 *
 * The VM side's lifecycle (relaying, then the cleanup) is one union that owns its timers
 * (session/vm-link.ts). Memory: an idle session is this object, its
 * framer and counters; the socket and WebSocket listeners are functions shared by every
 * session (they find the session through a symbol on the emitter), and no promise is pending
 * unless someone reads {@link RelaySession.done}.
 */
import type { Socket } from 'node:net';
import {
  isVscardError,
  RelayClose,
  validateClientFrame,
  VSC,
  VSCARD_MAX_GUEST_COMMAND_BYTES,
  VscardFramer,
  encodeRelayNotice,
  relaySplitsLongAnswers,
} from '@cardlend/vscard';
import type { RawData, WebSocket } from 'ws';
import { DEFAULT_MESSAGE_RATE, TokenBucket } from '../limits/rate-limit.ts';
import { refusalClose } from '../limits/refusals.ts';
import type { FramePolicy, PolicyNotice } from './frame-policy.ts';
import { NODE_TIMERS, type SessionTimers, type TimerHandle } from './timers.ts';
import { SessionCounters } from './counters.ts';
import { expectsReply, GUEST_ANSWER_GRACE_MS, VmLink, type VmPhase } from './vm-link.ts';
import { toBytes } from './wire.ts';
import { BrowserLink } from './browser-link.ts';

export { GUEST_ANSWER_GRACE_MS } from './vm-link.ts';
export { clampReason } from './wire.ts';
import type {
  RelaySessionOptions,
  SessionActivity,
  SessionEnd,
  SessionEndReason,
  SessionEvent,
  SessionHandler,
  SessionPhase,
  SessionStats,
} from './types.ts';

const PUBLIC_PHASE: Record<VmPhase['name'], SessionPhase> = {
  open: 'open',
  grace: 'cleanup',
  acks: 'cleanup',
  fin: 'cleanup',
  closed: 'closed',
};

const VM_CLOSED_MESSAGE = 'The VM closed the connection (QEMU stopped or restarted).';

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

export class RelaySession {
  #ws: WebSocket;
  readonly #tcp: Socket;
  readonly #vm: VmLink;
  /** QEMU's stream: a guest command may be 2 bytes longer than any client message. */
  readonly #framer = new VscardFramer({ maxPayloadBytes: VSCARD_MAX_GUEST_COMMAND_BYTES });
  readonly #maxBufferedToBrowserBytes: number;
  readonly #onEvent: (e: SessionEvent) => void;
  readonly #timers: SessionTimers;
  #browser: BrowserLink;
  readonly #wsCloseTimeoutMs: number;
  /** Parking after a drop is allowed for this long, ms (0: never; see {@link enableResume}). */
  #resumeGraceMs = 0;
  /** Set while parked: the browser dropped, the VM side waits for a resume (issue 14 §1). */
  #parkTimer: TimerHandle | undefined;
  #isVmPaused = false;
  #isBrowserPaused = false;
  #endReason: SessionEndReason = 'browser-closed';
  readonly #now: () => number;
  readonly #counters: SessionCounters;
  readonly #bucket: TokenBucket | undefined;
  readonly #slowReaderTimeoutMs: number;
  readonly #policy: FramePolicy | undefined;
  readonly #policyState: unknown;
  readonly #handler: SessionHandler | undefined;
  readonly #activity: SessionActivity | undefined;
  #end: SessionEnd | undefined;
  #done: Promise<SessionEnd> | undefined;
  #resolveDone: ((end: SessionEnd) => void) | undefined;

  constructor(opts: RelaySessionOptions) {
    this.#ws = opts.ws;
    this.#tcp = opts.tcp;
    this.#maxBufferedToBrowserBytes = opts.maxBufferedToBrowserBytes ?? 256 * 1024;
    this.#onEvent = opts.onEvent ?? noop;
    this.#timers = opts.timers ?? NODE_TIMERS;
    this.#wsCloseTimeoutMs = opts.wsCloseTimeoutMs ?? 2000;
    this.#browser = new BrowserLink(opts.ws, this.#timers, this.#wsCloseTimeoutMs);
    this.#vm = new VmLink(opts.tcp, this.#timers, {
      guestAnswerGraceMs: opts.guestAnswerGraceMs ?? GUEST_ANSWER_GRACE_MS,
      cleanupAckTimeoutMs: opts.cleanupAckTimeoutMs ?? 1000,
      tcpCloseTimeoutMs: opts.tcpCloseTimeoutMs ?? 1000,
    });
    this.#handler = opts.handler;
    this.#activity = opts.activity;
    this.#now = opts.now ?? defaultNow;
    this.#counters = new SessionCounters(opts.observer, this.#now);
    const rate = opts.messageRate === undefined ? DEFAULT_MESSAGE_RATE : opts.messageRate;
    this.#bucket = rate === null ? undefined : new TokenBucket(rate);
    this.#slowReaderTimeoutMs = opts.slowReaderTimeoutMs ?? 10_000;
    this.#policy = opts.framePolicy ?? undefined;
    this.#policyState = this.#policy?.init({ protocol: opts.ws.protocol });
    if (this.#policy?.fromRelay) this.#vm.relayWrite = (bytes) => this.#writeFromRelay(bytes);
    this.#attach();
    if (opts.initialVmBytes && opts.initialVmBytes.length > 0)
      this.#onVmData(Buffer.from(opts.initialVmBytes));
    for (const m of opts.initialMessages ?? []) this.#onBrowserMessage(m.data, m.isBinary);
  }

  #attach(): void {
    const tcp = this.#tcp;
    tcp.setNoDelay(true);
    (tcp as Carrier)[kSession] = this;
    tcp.on('data', RelaySession.#tcpData);
    tcp.on('drain', RelaySession.#tcpDrain);
    tcp.on('error', RelaySession.#tcpError);
    tcp.on('end', RelaySession.#tcpEnd);
    tcp.on('close', RelaySession.#tcpClose);
    if (tcp.destroyed || tcp.readyState !== 'open') {
      queueMicrotask(() => this.#onVmGone('vm-closed', 'The VM connection was already closed.'));
    }
    this.#attachBrowser();
  }

  #attachBrowser(): void {
    const ws = this.#ws;
    (ws as Carrier)[kSession] = this;
    ws.on('message', RelaySession.#wsMessage);
    ws.on('error', RelaySession.#wsError);
    ws.on('close', RelaySession.#wsClose);
    if (this.#activity) ws.on('pong', RelaySession.#wsPong);
    if (ws.readyState !== ws.OPEN) {
      queueMicrotask(() => this.#startCleanup('browser-closed', true));
    }
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
    s.#vm.onClosed();
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
    s.#browser.onClosed(code);
    if (s.#canPark(code)) s.#park();
    else s.#startCleanup('browser-closed', true);
    s.#maybeFinish();
  }

  static #wsPong(this: WebSocket): void {
    const s = (this as Carrier)[kSession];
    if (s) s.#activity?.notePong();
  }

  // Timer callbacks; the argument is the session (no closure per timer).

  static #slowReader(s: RelaySession): void {
    s.#limit('slow-reader');
  }

  static #resumeGraceOver(s: RelaySession): void {
    s.#parkTimer = undefined;
    s.#emit({ kind: 'resume-expired' });
    s.#startCleanup('browser-closed', true);
    s.#maybeFinish();
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
    return PUBLIC_PHASE[this.#vm.phase];
  }

  /** Guest commands QEMU sent that the browser has not answered yet. */
  get outstandingGuestCommands(): number {
    return this.#counters.outstanding;
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
    return this.#counters.stats;
  }

  /** Messages relayed either way so far: the heartbeat's measure of activity (idle timeout). */
  get messageCount(): number {
    return this.#counters.messageCount;
  }

  /**
   * Ends the session from the relay's side (shutdown, idle timeout, ...): the browser gets
   * `code`/`reason`, the VM gets the usual cleanup.
   */
  close(code: number, reason: string): void {
    if (this.#vm.phase !== 'open') return;
    this.#browser.close(code, reason);
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

  // Resuming (issue 14 §1): parking the VM side after a drop, and a new WebSocket taking over.

  /**
   * From now on, a browser that drops without a close frame (1006) parks the session for
   * `graceMs` instead of ending it: outstanding guest commands are answered with VSC_Error (and
   * any that come while parked), the reader and the card stay in the VM, and
   * {@link resumeWith} within the grace continues it. After the grace: the usual cleanup.
   */
  enableResume(graceMs: number): void {
    this.#resumeGraceMs = graceMs;
  }

  /** Whether a drop would park the session (its client holds a resume ticket). */
  get isResumable(): boolean {
    return this.#resumeGraceMs > 0;
  }

  /** Whether the browser side dropped and the VM side waits for a resume. */
  get isParked(): boolean {
    return this.#parkTimer !== undefined;
  }

  #canPark(browserCloseCode: number): boolean {
    return (
      this.#resumeGraceMs > 0 &&
      browserCloseCode === 1006 &&
      this.#browser.closeCode === undefined &&
      this.#vm.phase === 'open' &&
      !this.#tcp.destroyed &&
      this.#tcp.writable
    );
  }

  #park(): void {
    if (this.#isVmPaused) {
      // Nothing goes to the browser while parked: keep reading QEMU (its writes must not stall).
      this.#isVmPaused = false;
      this.#tcp.resume();
      this.#vm.disarmSlowReader();
    }
    const answered = this.#counters.takeAll();
    this.#vm.answerGuestCommands(answered);
    this.#parkTimer = this.#timers.set(RelaySession.#resumeGraceOver, this.#resumeGraceMs, this);
    this.#emit({ kind: 'parked', answered, graceMs: this.#resumeGraceMs });
  }

  /** No longer parked (resumed, cleaning up, or over): the grace timer goes. */
  #unpark(): void {
    if (this.#parkTimer === undefined) return;
    this.#timers.clear(this.#parkTimer);
    this.#parkTimer = undefined;
  }

  /** Guest commands that arrive while parked are answered with VSC_Error at once. */
  #answerWhileParked(): void {
    const answered = this.#counters.takeAll();
    if (answered > 0) this.#vm.answerGuestCommands(answered);
  }

  /**
   * A reconnect presented this session's resume ticket: `ws` becomes the browser side (a
   * browser side still open — the relay had not noticed the drop — is cut off first), `early`
   * are the frames it sent while admitted. False when the session is already ending.
   */
  resumeWith(ws: WebSocket, early: readonly { data: RawData; isBinary: boolean }[]): boolean {
    if (this.#vm.phase !== 'open') return false;
    const old = this.#ws;
    if (this.#browser.isOpen) {
      delete (old as Carrier)[kSession];
      old.terminate();
    }
    this.#browser.settle();
    this.#unpark();
    this.#answerWhileParked();
    this.#policy?.resume?.(this.#policyState);
    this.#ws = ws;
    this.#browser = new BrowserLink(ws, this.#timers, this.#wsCloseTimeoutMs);
    this.#isBrowserPaused = false;
    if (this.#tcp.isPaused()) this.#tcp.resume();
    this.#attachBrowser();
    this.#emit({ kind: 'resumed' });
    for (const m of early) this.#onBrowserMessage(m.data, m.isBinary);
    return true;
  }

  // Browser → VM

  #onBrowserMessage(data: RawData, isBinary: boolean): void {
    if (this.#vm.phase !== 'open') return;
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
    const isAnswer = this.#counters.isAnswer(type);
    // Answers to outstanding guest commands are paced by QEMU (one per command): not limited.
    if (!isAnswer && this.#bucket && !this.#bucket.take(this.#now())) {
      this.#limit('message-rate');
      return;
    }
    let probe: Uint8Array | undefined;
    let out: Uint8Array = bytes;
    if (this.#policy?.toVm) {
      const verdict = this.#policy.toVm({ type, bytes }, this.#policyState);
      if (verdict.action !== 'forward') {
        if (verdict.action === 'refuse') this.#refuseFrame('to-vm', verdict);
        return;
      }
      probe = verdict.probe;
      if (verdict.bytes) out = verdict.bytes; // e.g. the first piece of a long answer
    }
    // The bytes leave first; the bookkeeping below is not on the round trip's path (nothing
    // it updates is read before QEMU's reply, which arrives in a later event).
    let isWritable = this.#tcp.write(out);
    if (probe) isWritable = this.#writeProbe(probe);
    this.#counters.toVm(type, bytes.length, isAnswer);
    if (expectsReply(type)) this.#vm.pendingReplies++;
    if (!isWritable && !this.#isBrowserPaused) {
      this.#isBrowserPaused = true;
      this.#ws.pause();
      this.#emit({ kind: 'backpressure', side: 'browser', isPaused: true });
    }
  }

  /** The frame policy refused a frame: the browser gets its code, the VM its cleanup. */
  #refuseFrame(
    direction: 'to-vm' | 'to-browser',
    verdict: { closeCode: number; reason: string },
  ): void {
    const { closeCode, reason } = verdict;
    this.#emit({ kind: 'frame-refused', direction, closeCode, reason });
    this.#browser.close(closeCode, reason);
    this.#startCleanup('frame-refused', true);
  }

  /**
   * Whole messages the policy asked for (a probe, a served answer), right after what was
   * written; each control message among them is counted as awaiting its reply.
   */
  #writeProbe(probe: Uint8Array): boolean {
    if (this.#tcp.destroyed || !this.#tcp.writable) return true;
    const view = new DataView(probe.buffer, probe.byteOffset, probe.byteLength);
    for (let at = 0; at + 12 <= probe.length; at += 12 + view.getUint32(at + 8)) {
      if (expectsReply(view.getUint32(at))) this.#vm.pendingReplies++;
    }
    return this.#tcp.write(probe);
  }

  /** The cleanup's own messages, through the frame policy (VmLink.relayWrite). */
  #writeFromRelay(bytes: Uint8Array): boolean {
    const verdict = this.#policy?.fromRelay?.(
      { type: new DataView(bytes.buffer, bytes.byteOffset).getUint32(0), bytes },
      this.#policyState,
    );
    if (verdict && verdict.action !== 'forward') return false;
    this.#tcp.write(bytes);
    if (verdict?.probe) this.#writeProbe(verdict.probe);
    return true;
  }

  #onVmDrain(): void {
    if (this.#isBrowserPaused) {
      this.#isBrowserPaused = false;
      if (this.#browser.isOpen) this.#ws.resume();
      this.#emit({ kind: 'backpressure', side: 'browser', isPaused: false });
    }
  }

  #limit(refusal: 'message-rate' | 'slow-reader'): void {
    if (this.#vm.phase !== 'open') return;
    this.#emit({ kind: 'limit', refusal });
    const { code, reason } = refusalClose(refusal);
    this.close(code, reason);
  }

  #badFrame(code: string, message: string): void {
    this.#emit({ kind: 'bad-frame', code, message });
    this.#browser.close(RelayClose.BAD_FRAME, message);
    this.#startCleanup('bad-frame', true);
  }

  // VM → browser

  #onVmData(chunk: Buffer): void {
    const notice = this.#policy?.vmChunk?.(chunk, this.#now(), this.#policyState);
    if (notice) this.#notify(notice);
    let frames;
    try {
      frames = this.#framer.push(chunk);
    } catch (e) {
      if (!isVscardError(e)) throw e;
      this.#onVmGarbage(e.code, e.message);
      return;
    }
    for (const f of frames) {
      const verdict = this.#policy?.toBrowser?.(f, this.#policyState);
      if (verdict && verdict.action !== 'forward') {
        // The bookkeeping still sees it: a refused guest command is answered by the cleanup.
        // A dropped guest command was answered by the policy itself (its probe: e.g. a GET
        // RESPONSE served from the relay's buffer), so it is not outstanding.
        if (verdict.action === 'refuse' || f.type !== VSC.APDU) this.#countFromVm(f.type);
        if (verdict.action === 'refuse') {
          if (this.#vm.phase === 'open') this.#refuseFrame('to-browser', verdict);
        } else if (verdict.probe) this.#writeProbe(verdict.probe);
        continue;
      }
      if (verdict?.probe) this.#writeProbe(verdict.probe);
      // Send first: the bookkeeping after it is not on the round trip's path.
      if (this.#vm.phase === 'open' && this.#browser.isOpen) this.#sendToBrowser(f.bytes);
      this.#countFromVm(f.type);
    }
    if (this.#parkTimer !== undefined) this.#answerWhileParked();
    if (
      this.#vm.phase === 'open' &&
      this.#browser.isOpen &&
      !this.#isVmPaused &&
      this.#ws.bufferedAmount > this.#maxBufferedToBrowserBytes
    ) {
      this.#isVmPaused = true;
      this.#tcp.pause();
      this.#emit({ kind: 'backpressure', side: 'vm', isPaused: true });
      this.#vm.armSlowReader(RelaySession.#slowReader, this.#slowReaderTimeoutMs, this);
    }
  }

  /**
   * A policy notice: an event (log, metrics) and, for a page on the long-answers contract,
   * a text frame it can show (`encodeRelayNotice`, @cardlend/vscard relay-notice.ts).
   */
  #notify(notice: PolicyNotice): void {
    this.#emit({ kind: 'notice', notice });
    if (!this.#browser.isOpen || !relaySplitsLongAnswers(this.#ws.protocol)) return;
    const stall = notice.fields['typicalStallMs'];
    this.#ws.send(
      encodeRelayNotice({
        code: notice.code,
        message: notice.message,
        ...(typeof stall === 'number' ? { typicalStallMs: stall } : {}),
      }),
    );
  }

  #sendToBrowser(bytes: Uint8Array): void {
    // The send callback only serves to resume a paused VM side, and a pause needs the last
    // queued frame to carry one: a frame queued behind others, or one that alone exceeds the
    // limit. While nothing is queued (the usual case) none is allocated.
    if (this.#ws.bufferedAmount > 0 || bytes.length > this.#maxBufferedToBrowserBytes)
      this.#ws.send(bytes, SEND_BINARY, this.#sentCallback());
    else this.#ws.send(bytes, SEND_BINARY);
    this.#counters.toBrowser(bytes.length);
  }

  #countFromVm(type: number): void {
    if (type === VSC.APDU) this.#counters.guestCommand(this.#vm.phase === 'open');
    else if (type === VSC.Error || type === VSC.Init) {
      this.#vm.noteReply();
    }
  }

  #onVmGarbage(code: string, message: string): void {
    this.#emit({ kind: 'vm-protocol', code, message });
    if (this.#vm.phase === 'open') {
      this.#browser.close(
        RelayClose.VM_PROTOCOL,
        `The VM sent bytes that are not VSCard (${code}).`,
      );
      this.#startCleanup('vm-protocol', false);
    } else {
      this.#vm.onGarbageDuringCleanup();
    }
  }

  #sentCallback(): () => void {
    return () => this.#onBrowserSent();
  }

  #onBrowserSent(): void {
    if (this.#isVmPaused && this.#ws.bufferedAmount <= this.#maxBufferedToBrowserBytes / 2) {
      this.#isVmPaused = false;
      this.#tcp.resume();
      this.#vm.disarmSlowReader();
      this.#emit({ kind: 'backpressure', side: 'vm', isPaused: false });
    }
  }

  #onVmGone(reason: SessionEndReason, message: string): void {
    if (this.#vm.phase === 'open') {
      this.#endReason = reason;
      this.#vm.isConnected = !this.#tcp.destroyed;
      this.#vm.drop();
      this.#browser.close(RelayClose.VM_CLOSED, message);
    } else {
      this.#vm.drop();
    }
    this.#maybeFinish();
  }

  /**
   * The browser side is gone (or being closed): the VM link answers outstanding guest
   * commands with VSC_Error, then (after {@link GUEST_ANSWER_GRACE_MS} if there were any)
   * sends CardRemove + ReaderRemove; it waits (bounded) for acks when `isWaitingForAcks`.
   */
  #startCleanup(reason: SessionEndReason, isWaitingForAcks: boolean): void {
    this.#unpark();
    if (this.#vm.phase !== 'open') return;
    this.#endReason = reason;
    const answered = this.#counters.takeAll();
    if (!this.#tcp.destroyed && this.#tcp.writable) this.#emit({ kind: 'cleanup', answered });
    this.#vm.startCleanup(answered, isWaitingForAcks && this.#framer.state !== 'failed');
    this.#maybeFinish();
  }

  #maybeFinish(): void {
    if (this.#vm.phase !== 'closed' || this.#vm.isConnected || this.#browser.isOpen) return;
    this.#unpark();
    this.#browser.settle();
    if (this.#end) return;
    const end: SessionEnd = {
      reason: this.#endReason,
      closeCode: this.#browser.closeCode,
      closeReason: this.#browser.closeReason,
      browserCloseCode: this.#browser.peerCloseCode,
      endedBy: endedBy(this.#endReason),
      answeredOnCleanup: this.#vm.answeredOnCleanup,
      isCleanupAcked: this.#vm.isCleanupAcked,
      stats: { ...this.#counters.stats },
    };
    this.#end = end;
    this.#counters.takeAll();
    this.#resolveDone?.(end);
    this.#handler?.onSessionEnd?.(end);
  }
}

function endedBy(reason: SessionEndReason): SessionEnd['endedBy'] {
  if (reason === 'relay-closed' || reason === 'frame-refused') return 'relay';
  return reason.startsWith('vm-') ? 'vm' : 'browser';
}
