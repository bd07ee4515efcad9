/**
 * Lending as a pure state machine: relay-socket events, reader events, reader call results
 * and timers go in (each with `nowMs`); socket writes, reader calls, timer requests, state
 * snapshots and log lines come out as {@link LendingAction}s. No I/O and no clock, written
 * like VscardClientSession (@cardlend/vscard), which it drives for the VSCard protocol.
 *
 * Phases (one union, {@link LendingPhase}):
 *
 *     idle ──start──▶ online ◀──retry timer── offline
 *                      │  └──socket closed (retryable)──▶ offline
 *                      │  socket closed (final / refused), retries used up ──▶ done
 *                      └──stop(), reader gone──▶ stopping ──link closed / stop timer──▶
 *                                                   powering-off ──done / timer──▶ done
 *
 * Around the phases: the card (card-track.ts: `state.card`, probed and powered through
 * reader calls, a generation bumped at every change so answers of an earlier card are
 * dropped), the VM's view of it per connection (`vmCard`), and the guest commands
 * (guest-server.ts, guest-queue.ts); what a connection's close means (close-outcome.ts);
 * the stop sequence (stopping.ts); retrying a failed power on (power-retry.ts).
 * Rules: vscard-protocol.md §6 (client) and §7 (errors); the failure answer to a guest
 * command is 6F00 (see card-bridge.ts).
 */
import {
  isRelaySubprotocol,
  RELAY_SUBPROTOCOL,
  relaySplitsLongAnswers,
  parseRelayNotice,
  VSCARD_MAX_PAYLOAD_BYTES,
} from '@cardlend/vscard';
import type { ReaderEvent } from '@cardlend/ccid';
import { BridgeError, toErrorInfo } from '../errors.ts';
import { errorKeptOnLink } from './card.ts';
import type { T0CompatMode } from './card.ts';
import { CardTrack } from './card-track.ts';
import { newConnection } from './core.ts';
import type { Connection, LendingMachineOptions, LendingPhase, SessionCall } from './core.ts';
import { GuestQueue } from './guest-queue.ts';
import { GuestServer } from './guest-server.ts';
import { MachineOutput } from './output.ts';
import { closeOutcome } from './close-outcome.ts';
import { ReconnectSchedule } from './reconnect.ts';
import { ResumeTicket } from './resume.ts';
import { StopSequence, type StopHost } from './stopping.ts';
import { decodeHostFrame, SessionDriver } from './session-driver.ts';
import type { LendingAction, ReaderResult, TimerName } from './types.ts';

export type { Connection, LendingMachineOptions, LendingPhase } from './core.ts';

/** The lending state machine; see the module comment. */
export class LendingMachine extends MachineOutput implements StopHost {
  readonly queue: GuestQueue;
  readonly #opts: LendingMachineOptions;
  readonly #card: CardTrack;
  readonly #guests: GuestServer;
  readonly #session: SessionDriver;
  readonly #reconnect: ReconnectSchedule;
  readonly #resume: ResumeTicket;
  readonly #stop: StopSequence;
  #phase: LendingPhase = { name: 'idle' };
  #nextSocket = 0;
  #isStartPending = false;

  constructor(opts: LendingMachineOptions) {
    super();
    this.#opts = opts;
    this.queue = new GuestQueue(opts.maxAnswerBytes);
    this.#card = new CardTrack(this);
    this.#guests = new GuestServer(this, this.#card);
    this.#session = new SessionDriver(this);
    this.#reconnect = new ReconnectSchedule(opts.reconnect, opts.random);
    this.#resume = new ResumeTicket(opts.isResumable);
    this.#stop = new StopSequence(this, this.#card, opts);
  }

  get phase(): LendingPhase {
    return this.#phase;
  }

  // ── inputs ──────────────────────────────────────────────────────────────────

  /** Starts lending; `canConnect` false = no WebSocket in this environment. Once. */
  start(nowMs: number, canConnect: boolean): LendingAction[] {
    if (this.#phase.name !== 'idle') throw new TypeError('start() may be called once');
    return this.input(nowMs, () => {
      this.#isStartPending = true;
      if (!canConnect) {
        this.end('failed', new BridgeError('BRIDGE_NO_WEBSOCKET'));
        return;
      }
      this.setState({ link: 'connecting' });
      this.#connect();
      this.#card.probe();
    });
  }

  /** Stops lending (see {@link LendingPhase} `stopping`); idempotent. */
  stop(nowMs: number): LendingAction[] {
    return this.input(nowMs, () => {
      if (this.#phase.name === 'idle') {
        this.#phase = { name: 'done' };
        this.setState({ link: 'stopped' });
        this.emit({ type: 'ended' });
      } else if (this.isRunning) {
        this.#stop.begin(null);
      }
    });
  }

  socketOpened(socket: number, protocol: string, nowMs: number): LendingAction[] {
    return this.input(nowMs, () => {
      const conn = this.conn;
      if (conn?.socket !== socket || conn.status !== 'opening') return;
      conn.status = 'open';
      conn.wasOpen = true;
      this.log('info', 'connected to the relay', { protocol });
      if (this.#phase.name === 'stopping') {
        this.closeSocket(conn, 1000, 'Lending stopped'); // nothing was announced yet
      } else if (!isRelaySubprotocol(protocol)) {
        // Not a cardlend relay (or an incompatible version): do not speak VSCard to it.
        this.failConnection(
          conn,
          new BridgeError('BRIDGE_RELAY_PROTOCOL', {
            message: `The server did not agree to the ${RELAY_SUBPROTOCOL} protocol; is this a cardlend relay?`,
          }),
        );
      } else {
        // With the long-answers contract the relay splits next to QEMU: answers go out whole.
        const maxAnswerBytes = relaySplitsLongAnswers(protocol)
          ? VSCARD_MAX_PAYLOAD_BYTES
          : this.#opts.maxAnswerBytes;
        this.queue.useAnswerLimit(maxAnswerBytes);
        this.#session.open(conn, this.#opts.readerName, this.#opts.ackTimeoutMs, maxAnswerBytes);
      }
    });
  }

  /** A frame from the relay: its bytes, its text (a text frame), or `null` for anything else. */
  socketMessage(socket: number, data: Uint8Array | string | null, nowMs: number): LendingAction[] {
    return this.input(nowMs, () => {
      const conn = this.conn;
      if (conn?.socket !== socket || conn.session === null) return;
      if (typeof data === 'string' && this.#resume.receive(data)) {
        this.log('info', 'resume ticket received', { graceMs: this.#resume.graceMs });
        return;
      }
      const notice = typeof data === 'string' ? parseRelayNotice(data) : null;
      if (notice !== null) {
        // e.g. nagle-suspected: "This VM's smart-card channel adds about 42 ms per command: …"
        this.log('warn', notice.message, { relayNotice: notice.code });
        const { code, typicalStallMs } = notice;
        this.setState({
          relayNotice: typicalStallMs === undefined ? { code } : { code, typicalStallMs },
        });
        return;
      }
      const decoded = decodeHostFrame(typeof data === 'string' ? null : data);
      if (decoded instanceof BridgeError) this.failConnection(conn, decoded);
      else this.run(conn, (s, now) => s.receive(decoded, now));
    });
  }

  socketClosed(socket: number, code: number, reason: string, nowMs: number): LendingAction[] {
    return this.input(nowMs, () => {
      const conn = this.conn;
      if (conn?.socket === socket) this.#connectionClosed(conn, code, reason);
    });
  }

  readerEvent(e: ReaderEvent, nowMs: number): LendingAction[] {
    return this.input(nowMs, () => {
      if (this.isRunning || this.isStopping) this.#card.onReaderEvent(e);
    });
  }

  /** The result of the reader call `id` (a `reader` action). */
  readerDone(id: number, result: ReaderResult, nowMs: number): LendingAction[] {
    return this.input(nowMs, () => {
      this.readerCallDone(id, result);
    });
  }

  timerFired(timer: TimerName, nowMs: number): LendingAction[] {
    return this.input(nowMs, () => {
      const phase = this.#phase;
      if (timer === 'reconnect' && phase.name === 'offline') this.#connect();
      else if (timer === 'session') this.#session.tick();
      else if (timer === 'power-on') this.#card.retryPowerOn();
      else if (timer === 'stop' && phase.name === 'stopping') {
        this.log('warn', 'stop timed out; closing without all acks');
        this.#stop.linkClosed(phase);
      } else if (timer === 'power-off' && phase.name === 'powering-off') {
        this.end('stopped', phase.reason);
      }
    });
  }

  // ── for the parts (MachineCore) ─────────────────────────────────────────────

  get slot(): number {
    return this.#opts.slot;
  }

  get t0Compat(): T0CompatMode {
    return this.#opts.t0Compat;
  }

  get isRunning(): boolean {
    return this.#phase.name === 'online' || this.#phase.name === 'offline';
  }

  get isStopping(): boolean {
    return this.#phase.name === 'stopping' || this.#phase.name === 'powering-off';
  }

  get isDone(): boolean {
    return this.#phase.name === 'done';
  }

  /** The current relay connection, if any. */
  get conn(): Connection | null {
    const p = this.#phase;
    return p.name === 'online' || p.name === 'stopping' ? p.conn : null;
  }

  run(conn: Connection, call: SessionCall): void {
    this.#session.run(conn, call);
  }

  guestCommand(conn: Connection, id: number, apdu: Uint8Array): void {
    this.#guests.push(conn, id, apdu);
  }

  /** Asks the socket to close (when it is opening or open); its close event follows. */
  closeSocket(conn: Connection, code: number, reason: string): void {
    if (conn.status === 'closing') return;
    conn.status = 'closing';
    this.emit({ type: 'close-socket', socket: conn.socket, code, reason });
  }

  /** Ends this connection for good because of `error` (no reconnect). */
  failConnection(conn: Connection, error: BridgeError): void {
    conn.failure = error;
    if (conn.status !== 'closing') {
      this.closeSocket(conn, error.code === 'BRIDGE_RELAY_PROTOCOL' ? 1002 : 1000, error.code);
    } else {
      this.#connectionClosed(conn, 1006, '');
    }
  }

  /** The VM acknowledged the reader on `conn`. */
  readerAnnounced(conn: Connection): void {
    conn.isReaderAnnounced = true;
    conn.lentAtMs = this.nowMs;
    if (!this.isRunning) return;
    if (!conn.isResuming) this.#resume.freshSession();
    this.setState({
      link: 'lent',
      error: errorKeptOnLink(this.state.error),
      closeCode: undefined,
      reconnectAttempt: undefined,
      nextRetryAtMs: undefined,
      // A fresh session after a refused ticket is not a resumed one: the VM got the card anew.
      resume: conn.isResuming ? 'resumed' : undefined,
    });
    if (this.#isStartPending) {
      this.#isStartPending = false;
      this.emit({ type: 'started' });
    }
    this.#card.syncVm();
  }

  /** The reader is unusable for good: lending stops with `code`. */
  readerLost(code: 'BRIDGE_READER_GONE' | 'BRIDGE_READER_CLOSED'): void {
    this.log('info', code === 'BRIDGE_READER_GONE' ? 'reader gone' : 'reader closed');
    if (this.isRunning) this.#stop.begin(new BridgeError(code));
  }

  /** Final state; releases the reader subscription and all timers. */
  end(link: 'stopped' | 'failed' | 'refused', error: BridgeError | null, closeCode?: number): void {
    const conn = this.conn;
    this.#phase = { name: 'done' };
    this.emit({ type: 'cancel-timer', timer: 'reconnect' });
    this.dropSession(conn);
    const resume = this.state.resume;
    this.setState({
      link,
      card: null,
      error: error === null ? null : toErrorInfo(error),
      closeCode: closeCode ?? error?.closeCode,
      reconnectAttempt: undefined,
      nextRetryAtMs: undefined,
      // Ending while still resuming (retries used up, a refusal): the session is not coming back.
      resume: resume === 'resuming' ? 'cannot-resume' : resume,
      powerOnRetry: undefined,
    });
    this.#card.stopRetrying();
    if (this.#isStartPending) this.failStart(error ?? new BridgeError('BRIDGE_RELAY_CLOSED'));
    this.emit({ type: 'ended' });
  }

  // ── connection ──────────────────────────────────────────────────────────────

  #connect(): void {
    const conn = newConnection(++this.#nextSocket);
    this.#phase = { name: 'online', conn };
    const ticket = this.#resume.ticket;
    conn.isResuming = ticket !== undefined;
    this.emit({
      type: 'open-socket',
      socket: conn.socket,
      ...(ticket === undefined ? {} : { ticket }),
    });
  }

  #connectionClosed(conn: Connection, code: number, reason: string): void {
    const phase = this.#phase;
    this.dropSession(conn);
    this.log('info', 'relay connection closed', { code, reason, wasOpen: conn.wasOpen });
    if (phase.name === 'stopping') {
      phase.conn = null;
      this.#stop.linkClosed(phase);
      return;
    }
    if (phase.name !== 'online') return;
    this.#phase = { name: 'offline', retryAtMs: this.nowMs };
    this.#reconnect.connectionEnded(conn.lentAtMs, this.nowMs);
    const out = closeOutcome(conn, code, reason, this.#resume);
    if (out.isResumeOver) this.setState({ resume: 'cannot-resume' });
    if (out.kind === 'end') {
      this.end(out.link, out.error, out.closeCode);
      return;
    }
    if (out.isResumeOver) {
      this.log('info', 'the relay refused the resume ticket; trying the session token', { code });
    }
    this.#scheduleReconnect(out.error, out.closeCode);
  }

  #scheduleReconnect(error: BridgeError, closeCode: number): void {
    const next = this.#reconnect.next();
    if (next === null) {
      this.end('failed', error, closeCode);
      return;
    }
    const retryAtMs = this.nowMs + next.delayMs;
    this.#phase = { name: 'offline', retryAtMs };
    const hasTicket = this.#resume.ticket !== undefined;
    this.setState({
      link: 'reconnecting',
      error: toErrorInfo(error),
      closeCode,
      reconnectAttempt: next.attempt,
      nextRetryAtMs: retryAtMs,
      ...(hasTicket ? { resume: 'resuming' as const } : {}),
    });
    this.log('info', 'reconnecting', { attempt: next.attempt, delayMs: next.delayMs });
    this.emit({ type: 'arm-timer', timer: 'reconnect', atMs: retryAtMs });
  }

  /** Forgets the connection's VSCard session: its timer, its queued guest commands. */
  dropSession(conn: Connection | null): void {
    if (conn !== null) {
      if (conn.session !== null) this.emit({ type: 'cancel-timer', timer: 'session' });
      conn.session = null;
      conn.isReaderAnnounced = false;
      conn.vmCard = 'unknown';
    }
    this.queue.resetBuffer();
    // Commands of a closed connection can no longer be answered (QEMU flushes them on our next ATR).
    for (const command of this.queue.drain()) this.#guests.logUnanswered(command);
    const card = this.state.card;
    if (card !== null && card.vmStatus !== 'not-sent') {
      this.setState({ card: { ...card, vmStatus: 'not-sent' } });
    }
  }

  // ── for stopping (StopHost) ─────────────────────────────────────────────────

  get isStartPending(): boolean {
    return this.#isStartPending;
  }

  enter(phase: Extract<LendingPhase, { name: 'stopping' | 'powering-off' }>): void {
    this.#phase = phase;
  }

  failStart(error: BridgeError): void {
    this.#isStartPending = false;
    this.emit({ type: 'start-failed', error });
  }

  /** The power off asked for by stopping ended (either way). */
  poweredOff(): void {
    this.#stop.poweredOff(this.#phase);
  }
}
