/**
 * One relay session: pumps VSCard messages between an already-open browser WebSocket and an
 * already-open TCP connection to QEMU's `ccid-card-passthru` chardev (style.md, "Relay").
 *
 * - Both directions (session/pumps.ts): only whole, checked VSCard messages pass, each seen
 *   by the frame policy when one is given (session/policy-gate.ts), with backpressure both ways.
 * - Browser gone (any reason): every guest command still outstanding is answered with
 *   `VSC_Error`, then (after a grace for the guest to read those answers, which CardRemove
 *   would clear: {@link GUEST_ANSWER_GRACE_MS}) `CardRemove` and `ReaderRemove` are sent,
 *   their acks awaited (bounded), and TCP is closed with a FIN — so the guest never waits
 *   forever and QEMU's 128-command FIFO is never approached (vscard-protocol.md §4, §5,
 *   §6 rules 7–8).
 * - VM gone: the browser gets `RelayClose.VM_CLOSED` with a reason it can show.
 * - A drop parks the session when its client holds a resume ticket (session/parking.ts).
 *
 * This file holds the lifecycle: wiring the emitters, parking and resuming, and the end. The
 * VM side's lifecycle (relaying, then the cleanup) is one union
 * that owns its timers (session/vm-link.ts). Memory: an idle session is this object, its
 * pumps, framer and counters; the socket and WebSocket listeners are functions shared by every
 * session (they find the session through a symbol on the emitter), and no promise is pending
 * unless someone reads {@link RelaySession.done}.
 */
import type { Socket } from 'node:net';
import { RelayClose } from '@cardlend/vscard';
import type { RawData, WebSocket } from 'ws';
import { NODE_TIMERS, type SessionTimers } from './timers.ts';
import { Parking } from './parking.ts';
import { SessionCounters } from './counters.ts';
import { cleanupBounds, VmLink, type VmPhase } from './vm-link.ts';
import { BrowserLink, sessionEnd } from './browser-link.ts';
import { PolicyGate } from './policy-gate.ts';
import { kEmit, kStop, SessionPumps, type PumpOwner } from './pumps.ts';

export { GUEST_ANSWER_GRACE_MS } from './vm-link.ts';
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

function defaultNow(): number {
  return performance.now();
}

/** The session an emitter (socket or WebSocket) belongs to. */
const kSession = Symbol('cardlend.relaySession');
interface Carrier {
  [kSession]?: RelaySession;
}

export class RelaySession implements PumpOwner {
  readonly #tcp: Socket;
  readonly #vm: VmLink;
  readonly #pumps: SessionPumps;
  readonly #gate: PolicyGate | undefined;
  readonly #onEvent: (e: SessionEvent) => void;
  readonly #timers: SessionTimers;
  readonly #wsCloseTimeoutMs: number;
  /** Parking after a drop (see {@link enableResume}). */
  readonly #parking: Parking;
  #endReason: SessionEndReason = 'browser-closed';
  readonly #counters: SessionCounters;
  readonly #handler: SessionHandler | undefined;
  readonly #activity: SessionActivity | undefined;
  #end: SessionEnd | undefined;
  #done: Promise<SessionEnd> | undefined;
  #resolveDone: ((end: SessionEnd) => void) | undefined;

  constructor(opts: RelaySessionOptions) {
    this.#tcp = opts.tcp;
    this.#onEvent = opts.onEvent ?? noop;
    this.#timers = opts.timers ?? NODE_TIMERS;
    this.#wsCloseTimeoutMs = opts.wsCloseTimeoutMs ?? 2000;
    this.#parking = new Parking(this.#timers);
    this.#vm = new VmLink(opts.tcp, this.#timers, cleanupBounds(opts));
    this.#handler = opts.handler;
    this.#activity = opts.activity;
    const now = opts.now ?? defaultNow;
    this.#counters = new SessionCounters(opts.observer, now);
    const policy = opts.framePolicy ?? undefined;
    this.#gate = policy ? new PolicyGate(policy, opts.ws.protocol, this.#vm) : undefined;
    const browser = new BrowserLink(opts.ws, this.#timers, this.#wsCloseTimeoutMs);
    const parts = { browser, vm: this.#vm, counters: this.#counters, gate: this.#gate, now };
    this.#pumps = new SessionPumps(this, opts, parts);
    this.#attach();
    if (opts.initialVmBytes && opts.initialVmBytes.length > 0)
      this.#pumps.fromVm(Buffer.from(opts.initialVmBytes));
    for (const m of opts.initialMessages ?? []) this.#pumps.fromBrowser(m.data, m.isBinary);
  }

  get #ws(): WebSocket {
    return this.#pumps.browser.ws;
  }

  get #browser(): BrowserLink {
    return this.#pumps.browser;
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
    if (s) s.#pumps.fromVm(chunk);
  }

  static #tcpDrain(this: Socket): void {
    const s = (this as Carrier)[kSession];
    if (s) s.#pumps.vmDrained();
  }

  static #tcpError(this: Socket, e: NodeJS.ErrnoException): void {
    const s = (this as Carrier)[kSession];
    if (!s) return;
    s[kEmit]({ kind: 'vm-error', code: e.code ?? 'EUNKNOWN', message: e.message });
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
    if (s) s.#pumps.fromBrowser(data, isBinary);
  }

  static #wsError(this: WebSocket, e: Error): void {
    const s = (this as Carrier)[kSession];
    if (s) s[kEmit]({ kind: 'browser-error', message: e.message });
  }

  static #wsClose(this: WebSocket, code: number): void {
    const s = (this as Carrier)[kSession];
    if (!s) return;
    s.#browser.onClosed(code);
    if (s.#parking.mayPark(code, s.#browser, s.#vm)) s.#park();
    else s.#startCleanup('browser-closed', true);
    s.#maybeFinish();
  }

  static #wsPong(this: WebSocket): void {
    const s = (this as Carrier)[kSession];
    if (s) s.#activity?.notePong();
  }

  // Timer callbacks; the argument is the session (no closure per timer).

  static #resumeGraceOver(s: RelaySession): void {
    s.#parking.expired();
    s[kEmit]({ kind: 'resume-expired' });
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

  [kEmit](e: SessionEvent): void {
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
    return this.#pumps.isVmPaused;
  }

  /** Whether reading from the browser is paused for backpressure. */
  get isBrowserPaused(): boolean {
    return this.#pumps.isBrowserPaused;
  }

  /** The counts so far (a copy each time). */
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
    this.#parking.graceMs = graceMs;
  }

  /** Whether a drop would park the session (its client holds a resume ticket). */
  get isResumable(): boolean {
    return this.#parking.graceMs > 0;
  }

  /** Whether the browser side dropped and the VM side waits for a resume. */
  get isParked(): boolean {
    return this.#parking.isParked;
  }

  #park(): void {
    this.#pumps.releaseVm();
    const answered = this.#counters.takeAll();
    this.#vm.answerGuestCommands(answered);
    this.#parking.start(RelaySession.#resumeGraceOver, this);
    this[kEmit]({ kind: 'parked', answered, graceMs: this.#parking.graceMs });
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
    this.#parking.end();
    this.#pumps.answerOutstanding(); // guest commands that came while parked
    this.#gate?.resume();
    this.#pumps.takeOver(new BrowserLink(ws, this.#timers, this.#wsCloseTimeoutMs));
    this.#attachBrowser();
    this[kEmit]({ kind: 'resumed' });
    for (const m of early) this.#pumps.fromBrowser(m.data, m.isBinary);
    return true;
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

  /** A pump ends the session: the browser gets `closeCode`/`message`, the VM its cleanup. */
  [kStop](
    reason: SessionEndReason,
    closeCode: number,
    message: string,
    isWaitingForAcks: boolean,
  ): void {
    this.#browser.close(closeCode, message);
    this.#startCleanup(reason, isWaitingForAcks);
  }

  /**
   * The browser side is gone (or being closed): the VM link answers outstanding guest
   * commands with VSC_Error, then (after {@link GUEST_ANSWER_GRACE_MS} if there were any)
   * sends CardRemove + ReaderRemove; it waits (bounded) for acks when `isWaitingForAcks`.
   */
  #startCleanup(reason: SessionEndReason, isWaitingForAcks: boolean): void {
    this.#parking.end();
    if (this.#vm.phase !== 'open') return;
    this.#endReason = reason;
    const answered = this.#counters.takeAll();
    if (!this.#tcp.destroyed && this.#tcp.writable) this[kEmit]({ kind: 'cleanup', answered });
    this.#vm.startCleanup(answered, isWaitingForAcks && this.#pumps.framer.state !== 'failed');
    this.#maybeFinish();
  }

  #maybeFinish(): void {
    if (this.#vm.phase !== 'closed' || this.#vm.isConnected || this.#browser.isOpen) return;
    this.#parking.end();
    this.#browser.settle();
    if (this.#end) return;
    const end = sessionEnd(this.#endReason, this.#browser, this.#vm, this.#counters.stats);
    this.#end = end;
    this.#counters.takeAll();
    this.#resolveDone?.(end);
    this.#handler?.onSessionEnd?.(end);
  }
}
