/**
 * The client side of a VSCard session as a pure state machine (vscard-protocol.md §6):
 * host messages, card events and time go in; messages to send, guest commands to answer,
 * events and timer requests come out. No I/O and no clock: every method takes `nowMs`.
 */
import { clientInit, encodeApduMessage, encodeMessage, type VscardMessage } from './codec.ts';
import {
  VSC_ERROR_CODE,
  VSC_UNDEFINED_READER_ID,
  VSCARD_MAX_GUEST_ANSWER_BYTES,
  VSCARD_MAX_PAYLOAD_BYTES,
} from './constants.ts';
import { GuestCommands } from './guest-commands.ts';
import type {
  ApduAnswer,
  ControlRequestKind,
  SessionAction,
  SessionEvent,
  SessionOptions,
  SessionState,
} from './session-types.ts';

export type * from './session-types.ts';

interface ControlRequest {
  kind: ControlRequestKind;
  atr?: Uint8Array;
  /** CardRemove sent after a refused ATR (§6 rule 6): no card-removed event. */
  isCleanup?: boolean;
}

const FLUSHING: ReadonlySet<ControlRequestKind> = new Set(['ATR', 'CardRemove', 'ReaderRemove']);

/**
 * Client session (vscard-protocol.md §6).
 *
 * - `start()` sends Init (unless `sendInit: false`) and ReaderAdd; it never waits for an
 *   unsolicited host Init (QEMU sends one only at device creation, §5).
 * - Control messages (Init, ReaderAdd, ATR, CardRemove, ReaderRemove) go one at a time: the
 *   next leaves when the host answers the one in flight (Init → Init; others → Error, or the
 *   draft ReaderAddResponse). A missing answer after `ackTimeoutMs` ⇒ `ack-timeout` + close.
 * - Guest commands come out as `apdu` actions with increasing ids; answers are sent strictly in
 *   arrival order (an early answer waits for the ones before it) and bypass the control queue.
 * - Sending ATR, CardRemove or ReaderRemove makes the host flush every command outstanding at
 *   that point (§3, g04); their later answers are dropped (`stale-answer-dropped`, rule 5).
 *   Commands that arrive while such a message is unacknowledged were flushed too and are not
 *   surfaced.
 * - `close()` sends CardRemove then ReaderRemove, waits for both acks (or the timeout), then
 *   emits `closed` and a `close` action.
 */
export class VscardClientSession {
  readonly #readerName: string;
  readonly #ackTimeoutMs: number;
  readonly #sendInit: boolean;
  readonly #maxAnswerBytes: number;
  #state: SessionState = 'idle';
  #readerId = 0;
  #queue: ControlRequest[] = [];
  #inFlight: { req: ControlRequest; deadlineMs: number } | undefined;
  #commands = new GuestCommands();
  /** Reader announced or about to be (ReaderAdd queued/in flight, not removed since). */
  #isReaderWanted = false;

  constructor(opts: SessionOptions = {}) {
    const timeout = opts.ackTimeoutMs ?? 2000;
    if (!Number.isFinite(timeout) || timeout <= 0) {
      throw new RangeError('ackTimeoutMs must be a positive number');
    }
    this.#readerName = opts.readerName ?? '';
    this.#ackTimeoutMs = timeout;
    this.#sendInit = opts.sendInit ?? true;
    const maxAnswer = opts.maxAnswerBytes ?? VSCARD_MAX_GUEST_ANSWER_BYTES;
    if (!Number.isInteger(maxAnswer) || maxAnswer < 2 || maxAnswer > VSCARD_MAX_PAYLOAD_BYTES) {
      throw new RangeError(`maxAnswerBytes must be an integer in 2…${VSCARD_MAX_PAYLOAD_BYTES}`);
    }
    this.#maxAnswerBytes = maxAnswer;
  }

  /** Current state; see {@link SessionState}. */
  get state(): SessionState {
    return this.#state;
  }

  /** Ids of guest commands waiting for an answer, oldest first. */
  get outstandingIds(): number[] {
    return this.#commands.outstandingIds;
  }

  /** Open the session: Init (optional) and ReaderAdd. Call once, when the connection is up. */
  start(nowMs: number): SessionAction[] {
    if (this.#state !== 'idle') throw new Error(`start() called in state ${this.#state}`);
    this.#state = 'connected';
    if (this.#sendInit) this.#queue.push({ kind: 'Init' });
    this.#queue.push({ kind: 'ReaderAdd' });
    this.#isReaderWanted = true;
    const out: SessionAction[] = [];
    this.#pump(nowMs, out);
    return out;
  }

  /** Handle one message from the host. */
  receive(msg: VscardMessage, nowMs: number): SessionAction[] {
    const out: SessionAction[] = [];
    if (this.#state === 'closed') return out;
    switch (msg.type) {
      case 'Init':
        out.push(ev({ kind: 'host-init', version: msg.version }));
        if (this.#inFlight?.req.kind === 'Init') this.#acked(0, msg.readerId, nowMs, out);
        break;
      case 'Error':
      case 'ReaderAddResponse': {
        const req = this.#inFlight?.req;
        const code = msg.type === 'Error' ? msg.code : VSC_ERROR_CODE.VSC_SUCCESS;
        if (
          !req ||
          req.kind === 'Init' ||
          (msg.type === 'ReaderAddResponse' && req.kind !== 'ReaderAdd')
        ) {
          out.push(ev({ kind: 'unexpected-message', message: msg }));
        } else {
          this.#acked(code, msg.readerId, nowMs, out);
        }
        break;
      }
      case 'APDU':
        this.#guestCommand(msg.apdu, out);
        break;
      case 'Flush':
        this.#commands.requestFlush();
        this.#drainAnswers(out);
        break;
      case 'Reconnect':
        out.push(ev({ kind: 'reconnect-requested', ip: msg.ip, port: msg.port }));
        break;
      default:
        out.push(ev({ kind: 'unexpected-message', message: msg }));
    }
    return out;
  }

  /** The card was inserted or reset: announce its ATR (queued behind ReaderAdd if needed). */
  insertCard(atr: Uint8Array, nowMs: number): SessionAction[] {
    const out: SessionAction[] = [];
    if (!this.#isOpen('insertCard')) return out;
    if (!this.#isReaderWanted) {
      this.#queue.push({ kind: 'ReaderAdd' });
      this.#isReaderWanted = true;
    }
    this.#queue.push({ kind: 'ATR', atr: atr.slice() });
    this.#pump(nowMs, out);
    return out;
  }

  /** The card was pulled: CardRemove. */
  removeCard(nowMs: number): SessionAction[] {
    const out: SessionAction[] = [];
    if (!this.#isOpen('removeCard')) return out;
    this.#queue.push({ kind: 'CardRemove' });
    this.#pump(nowMs, out);
    return out;
  }

  /** The reader went away: CardRemove (if a card is or may be in) and ReaderRemove (§6 table). */
  removeReader(nowMs: number): SessionAction[] {
    const out: SessionAction[] = [];
    if (!this.#isOpen('removeReader')) return out;
    if (
      this.#state === 'card' ||
      this.#queue.some((r) => r.kind === 'ATR') ||
      this.#inFlight?.req.kind === 'ATR'
    ) {
      this.#queue.push({ kind: 'CardRemove' });
    }
    this.#queue.push({ kind: 'ReaderRemove' });
    this.#isReaderWanted = false;
    this.#pump(nowMs, out);
    return out;
  }

  /**
   * Answer guest command `id`: response bytes (data + SW1 SW2) or `{ errorCode }` (sent as
   * VSC_Error; the guest gets a failed empty response, §3). Answers leave strictly in command
   * order. An id the host already flushed (or already answered) is dropped with
   * `stale-answer-dropped`. Throws `RangeError` for an id never issued, a second answer to a
   * waiting id, or response bytes longer than `maxAnswerBytes` (default 374:
   * QEMU 7.2 silently discards longer answers, §4 — split with 61xx first, or answer with an
   * error; more only when the relay splits them); nothing changes then, the command still
   * waits for an answer. The bytes sent are those `answer` holds now (an answer that must wait
   * for an older one is copied), so the caller may reuse its array; an APDU send action's
   * `message.apdu` may be `answer` itself.
   */
  answerApdu(id: number, answer: ApduAnswer, _nowMs: number): SessionAction[] {
    if (!this.#commands.isIssued(id)) {
      throw new RangeError(`no guest command with id ${id}`);
    }
    if (answer instanceof Uint8Array) {
      if (answer.length > this.#maxAnswerBytes) {
        throw new RangeError(
          `answer of ${answer.length} bytes exceeds ${this.#maxAnswerBytes} (QEMU would drop it)`,
        );
      }
    } else if (
      !Number.isInteger(answer.errorCode) ||
      answer.errorCode < 0 ||
      answer.errorCode > 0xffffffff
    ) {
      throw new RangeError('errorCode must be a uint32');
    }
    const out: SessionAction[] = [];
    const placement = this.#commands.answer(id, answer);
    if (placement === 'stale') {
      out.push(ev({ kind: 'stale-answer-dropped', id }));
      return out;
    }
    if (placement === 'next') this.#sendAnswer(answer, out);
    this.#drainAnswers(out);
    return out;
  }

  /** Orderly shutdown: CardRemove, ReaderRemove, wait for both acks (or timeout), then close. */
  close(nowMs: number): SessionAction[] {
    const out: SessionAction[] = [];
    if (this.#state === 'closing' || this.#state === 'closed') return out;
    if (this.#state === 'idle') {
      this.#finish('closed before start', out);
      return out;
    }
    this.#state = 'closing';
    this.#queue = [{ kind: 'CardRemove' }, { kind: 'ReaderRemove' }];
    this.#isReaderWanted = false;
    this.#pump(nowMs, out);
    return out;
  }

  /** Timers: if the control message in flight is overdue, report and close. */
  tick(nowMs: number): SessionAction[] {
    const out: SessionAction[] = [];
    const f = this.#inFlight;
    if (this.#state === 'closed' || !f || nowMs < f.deadlineMs) return out;
    out.push(ev({ kind: 'ack-timeout', waitingFor: f.req.kind }));
    this.#finish(`no reply to ${f.req.kind} within ${this.#ackTimeoutMs} ms`, out);
    return out;
  }

  #isOpen(what: string): boolean {
    if (this.#state === 'idle') throw new Error(`${what}() before start()`);
    return this.#state !== 'closing' && this.#state !== 'closed';
  }

  /** Send the next control message if none is in flight. */
  #pump(nowMs: number, out: SessionAction[]): void {
    if (this.#inFlight || this.#state === 'closed') return;
    const req = this.#queue.shift();
    if (!req) return;
    let message: VscardMessage;
    switch (req.kind) {
      case 'Init':
        message = clientInit();
        break;
      case 'ReaderAdd':
        // spice-gtk style: no id yet; the reply's header carries it (§6 rule 3).
        message = { type: 'ReaderAdd', readerId: VSC_UNDEFINED_READER_ID, name: this.#readerName };
        break;
      case 'ATR':
        message = { type: 'ATR', readerId: this.#readerId, atr: req.atr ?? new Uint8Array() };
        break;
      case 'CardRemove':
        message = { type: 'CardRemove', readerId: this.#readerId };
        break;
      case 'ReaderRemove':
        message = { type: 'ReaderRemove', readerId: this.#readerId };
        break;
    }
    if (FLUSHING.has(req.kind)) this.#flushLive(out);
    out.push({ type: 'send', message, bytes: encodeMessage(message) });
    const deadlineMs = nowMs + this.#ackTimeoutMs;
    this.#inFlight = { req, deadlineMs };
    out.push({ type: 'arm-timer', atMs: deadlineMs });
  }

  /** The reply to the request in flight arrived. */
  #acked(code: number, replyReaderId: number, nowMs: number, out: SessionAction[]): void {
    const f = this.#inFlight;
    if (!f) return;
    this.#inFlight = undefined;
    const { req } = f;
    const closing = this.#state === 'closing';
    switch (req.kind) {
      case 'Init':
        break;
      case 'ReaderAdd':
        if (code !== VSC_ERROR_CODE.VSC_SUCCESS) {
          out.push(ev({ kind: 'reader-refused', code }));
          this.#finish(`reader refused by the host (code ${code})`, out);
          return;
        }
        this.#readerId = replyReaderId;
        if (!closing && this.#state === 'connected') this.#state = 'reader';
        out.push(ev({ kind: 'reader-added' }));
        break;
      case 'ATR':
        if (code === VSC_ERROR_CODE.VSC_SUCCESS) {
          if (!closing) this.#state = 'card';
          out.push(ev({ kind: 'atr-accepted' }));
        } else {
          if (!closing) this.#state = this.#isReaderWanted ? 'reader' : 'connected';
          out.push(ev({ kind: 'atr-refused', code }));
          // §6 rule 6: clear whatever card the host still shows.
          if (this.#queue[0]?.kind !== 'CardRemove') {
            this.#queue.unshift({ kind: 'CardRemove', isCleanup: true });
          }
        }
        break;
      case 'CardRemove':
        if (code !== VSC_ERROR_CODE.VSC_SUCCESS) {
          out.push(ev({ kind: 'request-refused', request: 'CardRemove', code }));
        }
        if (!closing && this.#state === 'card') this.#state = 'reader';
        if (!req.isCleanup) out.push(ev({ kind: 'card-removed' }));
        break;
      case 'ReaderRemove':
        if (code !== VSC_ERROR_CODE.VSC_SUCCESS) {
          out.push(ev({ kind: 'request-refused', request: 'ReaderRemove', code }));
        }
        if (!closing && (this.#state === 'reader' || this.#state === 'card')) {
          this.#state = 'connected';
        }
        out.push(ev({ kind: 'reader-removed' }));
        if (closing && this.#queue.length === 0) {
          this.#finish('closed', out);
          return;
        }
        break;
    }
    this.#pump(nowMs, out);
  }

  #guestCommand(apdu: Uint8Array, out: SessionAction[]): void {
    const f = this.#inFlight;
    if (f && FLUSHING.has(f.req.kind)) {
      // Sent by the host before it processed our flushing message, so already flushed (§3, g04).
      out.push(ev({ kind: 'guest-command-flushed' }));
      return;
    }
    if (this.#state !== 'card' && this.#commands.isEmpty) {
      // The host still shows an earlier card; we cannot run the command (§6: "a guest APDU may
      // arrive ... right after connecting"). Answer with an error so the guest never waits.
      const message: VscardMessage = {
        type: 'Error',
        readerId: this.#readerId,
        code: VSC_ERROR_CODE.VSC_GENERAL_ERROR,
      };
      out.push(ev({ kind: 'guest-command-refused' }));
      out.push({ type: 'send', message, bytes: encodeMessage(message) });
      return;
    }
    out.push({ type: 'apdu', id: this.#commands.add(), apdu });
  }

  /** Send answers that are next in line; then FlushComplete if a Flush waits for them. */
  #drainAnswers(out: SessionAction[]): void {
    const commands = this.#commands;
    for (let a = commands.takeNext(); a !== null; a = commands.takeNext()) this.#sendAnswer(a, out);
    this.#completeFlushIfDue(out);
  }

  /** One answer as a message: APDU bytes encoded straight from the answer, or VSC_Error. */
  #sendAnswer(a: ApduAnswer, out: SessionAction[]): void {
    const readerId = this.#readerId;
    if (a instanceof Uint8Array) {
      const message: VscardMessage = { type: 'APDU', readerId, apdu: a };
      out.push({ type: 'send', message, bytes: encodeApduMessage(readerId, a) });
    } else {
      const message: VscardMessage = { type: 'Error', readerId, code: a.errorCode };
      out.push({ type: 'send', message, bytes: encodeMessage(message) });
    }
  }

  /** The host flushes every outstanding command when it processes ATR/CardRemove/ReaderRemove. */
  #flushLive(out: SessionAction[]): void {
    for (const id of this.#commands.dropAll()) out.push(ev({ kind: 'stale-answer-dropped', id }));
    this.#completeFlushIfDue(out);
  }

  #completeFlushIfDue(out: SessionAction[]): void {
    if (!this.#commands.takeFlushComplete()) return;
    const message: VscardMessage = { type: 'FlushComplete', readerId: this.#readerId };
    out.push({ type: 'send', message, bytes: encodeMessage(message) });
  }

  #finish(reason: string, out: SessionAction[]): void {
    this.#state = 'closed';
    this.#inFlight = undefined;
    this.#queue = [];
    this.#commands.dropAll();
    out.push(ev({ kind: 'closed' }), { type: 'close', reason });
  }
}

function ev(event: SessionEvent): SessionAction {
  return { type: 'event', event };
}
