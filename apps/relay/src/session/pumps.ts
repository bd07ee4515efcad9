/**
 * The two directions of one relay session (session/relay-session.ts), over state the session
 * hands them explicitly:
 *
 * - Browser → VM: each binary frame must be exactly one valid client message
 *   (`validateClientFrame`), within the message rate (answers to outstanding guest commands
 *   are exempt), passed by the frame policy; only then written to TCP. Anything else closes
 *   the session (`RelayClose.BAD_FRAME`, or the policy's code) and none of it reaches QEMU.
 *   `socket.write() === false` pauses the WebSocket until the socket drains.
 * - VM → browser: QEMU's byte stream is cut into whole messages (`VscardFramer`), each shown
 *   to the frame policy and sent as one binary frame. A guest command may carry up to
 *   `VSCARD_MAX_GUEST_COMMAND_BYTES` (65 526) payload bytes, so a frame to the browser is at
 *   most 12 + 65 526 bytes (the browser → VM direction stays at 65 524). More than
 *   `maxBufferedToBrowserBytes` queued towards the browser pauses the TCP socket, and a
 *   browser that leaves it paused for `slowReaderTimeoutMs` is closed. Bytes that are not
 *   VSCard close with `RelayClose.VM_PROTOCOL`.
 *
 * What ends the session goes back to its owner ({@link PumpOwner}); the pumps hold no closure
 * per session and no timer besides the VM link's slow-reader timer.
 */
import type { Socket } from 'node:net';
import {
  encodeRelayNotice,
  isVscardError,
  RelayClose,
  relaySplitsLongAnswers,
  validateClientFrame,
  VSC,
  VSCARD_MAX_GUEST_COMMAND_BYTES,
  VscardFramer,
} from '@cardlend/vscard';
import type { RawData } from 'ws';
import { DEFAULT_MESSAGE_RATE, TokenBucket } from '../limits/rate-limit.ts';
import { refusalClose } from '../limits/refusals.ts';
import type { BrowserLink } from './browser-link.ts';
import type { SessionCounters } from './counters.ts';
import type { PolicyNotice } from './frame-policy.ts';
import type { PolicyGate } from './policy-gate.ts';
import type { RelaySessionOptions, SessionEndReason, SessionEvent } from './types.ts';
import { expectsReply, type VmLink } from './vm-link.ts';
import { toBytes } from './wire.ts';

/** The owner's hooks the pumps call (symbols: not part of the session's API). */
export const kStop: unique symbol = Symbol('cardlend.relaySession.stop');
export const kEmit: unique symbol = Symbol('cardlend.relaySession.emit');

/** What the pumps need of the session that owns them. */
export interface PumpOwner {
  /** The browser side dropped and the VM side waits for a resume. */
  readonly isParked: boolean;
  /** Ends the session from the relay's side (a limit was hit). */
  close(code: number, reason: string): void;
  /** The browser got `closeCode`/`message`; the VM side starts its cleanup. */
  [kStop](
    reason: SessionEndReason,
    closeCode: number,
    message: string,
    isWaitingForAcks: boolean,
  ): void;
  /** Reports an event (log, metrics). */
  [kEmit](e: SessionEvent): void;
}

/** The parts of the session the pumps work on. */
export interface PumpParts {
  readonly browser: BrowserLink;
  readonly vm: VmLink;
  readonly counters: SessionCounters;
  readonly gate: PolicyGate | undefined;
  readonly now: () => number;
}

const SEND_BINARY = { binary: true } as const;

export class SessionPumps {
  /** The browser side; a resume replaces it. */
  browser: BrowserLink;
  /** Reading from the VM is paused for backpressure. */
  isVmPaused = false;
  /** Reading from the browser is paused for backpressure. */
  isBrowserPaused = false;
  // The fixed parts, as fields (an idle session keeps no separate object for them).
  readonly #owner: PumpOwner;
  readonly #tcp: Socket;
  readonly #vm: VmLink;
  readonly #counters: SessionCounters;
  readonly #gate: PolicyGate | undefined;
  readonly #bucket: TokenBucket | undefined;
  readonly #now: () => number;
  readonly #maxBufferedToBrowserBytes: number;
  readonly #slowReaderTimeoutMs: number;
  /** QEMU's stream: a guest command may be 2 bytes longer than any client message. */
  readonly framer = new VscardFramer({ maxPayloadBytes: VSCARD_MAX_GUEST_COMMAND_BYTES });

  constructor(owner: PumpOwner, opts: RelaySessionOptions, parts: PumpParts) {
    this.browser = parts.browser;
    const rate = opts.messageRate === undefined ? DEFAULT_MESSAGE_RATE : opts.messageRate;
    this.#owner = owner;
    this.#tcp = parts.vm.tcp;
    this.#vm = parts.vm;
    this.#counters = parts.counters;
    this.#gate = parts.gate;
    this.#bucket = rate === null ? undefined : new TokenBucket(rate);
    this.#now = parts.now;
    this.#maxBufferedToBrowserBytes = opts.maxBufferedToBrowserBytes ?? 256 * 1024;
    this.#slowReaderTimeoutMs = opts.slowReaderTimeoutMs ?? 10_000;
  }

  // Browser → VM

  fromBrowser(data: RawData, isBinary: boolean): void {
    const vm = this.#vm;
    const counters = this.#counters;
    const gate = this.#gate;
    const bucket = this.#bucket;
    const tcp = this.#tcp;
    if (vm.phase !== 'open') return;
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
    const isAnswer = counters.isAnswer(type);
    // Answers to outstanding guest commands are paced by QEMU (one per command): not limited.
    if (!isAnswer && bucket && !bucket.take(this.#now())) {
      this.#limit('message-rate');
      return;
    }
    let probe: Uint8Array | undefined;
    let out: Uint8Array = bytes;
    const verdict = gate?.toVm({ type, bytes });
    if (verdict) {
      if (verdict.action !== 'forward') {
        if (verdict.action === 'refuse') this.#refuse('to-vm', verdict);
        return;
      }
      probe = verdict.probe;
      if (verdict.bytes) out = verdict.bytes; // e.g. the first piece of a long answer
    }
    // The bytes leave first; the bookkeeping below is not on the round trip's path (nothing
    // it updates is read before QEMU's reply, which arrives in a later event).
    let isWritable = tcp.write(out);
    if (probe && gate) isWritable = gate.writeProbe(probe);
    counters.toVm(type, bytes.length, isAnswer);
    if (expectsReply(type)) vm.pendingReplies++;
    if (!isWritable && !this.isBrowserPaused) {
      this.isBrowserPaused = true;
      this.browser.ws.pause();
      this.#owner[kEmit]({ kind: 'backpressure', side: 'browser', isPaused: true });
    }
  }

  /** The VM socket drained: the browser may be read again. */
  vmDrained(): void {
    if (this.isBrowserPaused) {
      this.isBrowserPaused = false;
      if (this.browser.isOpen) this.browser.ws.resume();
      this.#owner[kEmit]({ kind: 'backpressure', side: 'browser', isPaused: false });
    }
  }

  /** The frame policy refused a frame: the browser gets its code, the VM its cleanup. */
  #refuse(direction: 'to-vm' | 'to-browser', verdict: { closeCode: number; reason: string }): void {
    const { closeCode, reason } = verdict;
    this.#owner[kEmit]({ kind: 'frame-refused', direction, closeCode, reason });
    this.#owner[kStop]('frame-refused', closeCode, reason, true);
  }

  #limit(refusal: 'message-rate' | 'slow-reader'): void {
    if (this.#vm.phase !== 'open') return;
    this.#owner[kEmit]({ kind: 'limit', refusal });
    const { code, reason } = refusalClose(refusal);
    this.#owner.close(code, reason);
  }

  static #slowReader(p: SessionPumps): void {
    p.#limit('slow-reader');
  }

  #badFrame(code: string, message: string): void {
    this.#owner[kEmit]({ kind: 'bad-frame', code, message });
    this.#owner[kStop]('bad-frame', RelayClose.BAD_FRAME, message, true);
  }

  // VM → browser

  fromVm(chunk: Buffer): void {
    const vm = this.#vm;
    const gate = this.#gate;
    const owner = this.#owner;
    const notice = gate?.vmChunk(chunk, this.#now());
    if (notice) this.#notify(notice);
    let frames;
    try {
      frames = this.framer.push(chunk);
    } catch (e) {
      if (!isVscardError(e)) throw e;
      this.#vmGarbage(e.code, e.message);
      return;
    }
    for (const f of frames) {
      const verdict = gate?.toBrowser(f);
      if (verdict && verdict.action !== 'forward') {
        // The bookkeeping still sees it: a refused guest command is answered by the cleanup.
        // A dropped guest command was answered by the policy itself (its probe: e.g. a GET
        // RESPONSE served from the relay's buffer), so it is not outstanding.
        if (verdict.action === 'refuse' || f.type !== VSC.APDU) this.#countFromVm(f.type);
        if (verdict.action === 'refuse') {
          if (vm.phase === 'open') this.#refuse('to-browser', verdict);
        } else if (verdict.probe) gate?.writeProbe(verdict.probe);
        continue;
      }
      if (verdict?.probe) gate?.writeProbe(verdict.probe);
      // Send first: the bookkeeping after it is not on the round trip's path.
      if (vm.phase === 'open' && this.browser.isOpen) this.#sendToBrowser(f.bytes);
      this.#countFromVm(f.type);
    }
    if (owner.isParked) this.answerOutstanding();
    this.#maybePauseVm();
  }

  #maybePauseVm(): void {
    const vm = this.#vm;
    const tcp = this.#tcp;
    if (
      vm.phase === 'open' &&
      this.browser.isOpen &&
      !this.isVmPaused &&
      this.browser.ws.bufferedAmount > this.#maxBufferedToBrowserBytes
    ) {
      this.isVmPaused = true;
      tcp.pause();
      this.#owner[kEmit]({ kind: 'backpressure', side: 'vm', isPaused: true });
      vm.armSlowReader(SessionPumps.#slowReader, this.#slowReaderTimeoutMs, this);
    }
  }

  /** Guest commands no browser will answer (parked): VSC_Error at once. */
  answerOutstanding(): void {
    const answered = this.#counters.takeAll();
    if (answered > 0) this.#vm.answerGuestCommands(answered);
  }

  /** Parked: nothing goes to the browser, so QEMU is read again (its writes must not stall). */
  releaseVm(): void {
    if (!this.isVmPaused) return;
    this.isVmPaused = false;
    this.#tcp.resume();
    this.#vm.disarmSlowReader();
  }

  /** A resume: `browser` is the browser side from now on, read from the start. */
  takeOver(browser: BrowserLink): void {
    this.browser = browser;
    this.isBrowserPaused = false;
    if (this.#tcp.isPaused()) this.#tcp.resume();
  }

  /**
   * A policy notice: an event (log, metrics) and, for a page on the long-answers contract,
   * a text frame it can show (`encodeRelayNotice`, @cardlend/vscard relay-notice.ts).
   */
  #notify(notice: PolicyNotice): void {
    this.#owner[kEmit]({ kind: 'notice', notice });
    const ws = this.browser.ws;
    if (!this.browser.isOpen || !relaySplitsLongAnswers(ws.protocol)) return;
    const stall = notice.fields['typicalStallMs'];
    ws.send(
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
    const ws = this.browser.ws;
    if (ws.bufferedAmount > 0 || bytes.length > this.#maxBufferedToBrowserBytes)
      ws.send(bytes, SEND_BINARY, this.#sentCallback());
    else ws.send(bytes, SEND_BINARY);
    this.#counters.toBrowser(bytes.length);
  }

  #countFromVm(type: number): void {
    const vm = this.#vm;
    const counters = this.#counters;
    if (type === VSC.APDU) counters.guestCommand(vm.phase === 'open');
    else if (type === VSC.Error || type === VSC.Init) vm.noteReply();
  }

  #vmGarbage(code: string, message: string): void {
    const vm = this.#vm;
    const owner = this.#owner;
    owner[kEmit]({ kind: 'vm-protocol', code, message });
    if (vm.phase === 'open') {
      const text = `The VM sent bytes that are not VSCard (${code}).`;
      owner[kStop]('vm-protocol', RelayClose.VM_PROTOCOL, text, false);
    } else {
      vm.onGarbageDuringCleanup();
    }
  }

  #sentCallback(): () => void {
    return () => this.#onBrowserSent();
  }

  #onBrowserSent(): void {
    if (this.isVmPaused && this.browser.ws.bufferedAmount <= this.#maxBufferedToBrowserBytes / 2) {
      this.isVmPaused = false;
      this.#tcp.resume();
      this.#vm.disarmSlowReader();
      this.#owner[kEmit]({ kind: 'backpressure', side: 'vm', isPaused: false });
    }
  }
}
