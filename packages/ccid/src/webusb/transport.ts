import type {
  CcidCommand,
  CcidInterfaceInfo,
  CcidInterruptMessage,
  CcidReceiverEvent,
  CcidResponse,
} from '../core/index.ts';
import {
  CcidError,
  CcidReceiver,
  CcidRequest,
  CCID_HEADER_BYTES,
  encodeCommand,
  isCcidError,
  responseTypeFor,
} from '../core/index.ts';
import { AnswerWait } from './answer-wait.ts';
import type { ExchangeOptions } from './answer-wait.ts';
import { DeadlineWatchdog } from './deadline-watchdog.ts';
import { runInterruptPump } from './interrupt-pump.ts';
import { isDisconnectError, transferError } from './platform-errors.ts';

/** Diagnostic entry given to `onLog` (never printed by the library). */
export type CcidLogEntry =
  | { kind: 'out'; bytes: Uint8Array }
  | { kind: 'in'; bytes: Uint8Array }
  | { kind: 'dropped'; reason: string; bytes: Uint8Array }
  | { kind: 'time-extension'; slot: number; seq: number; multiplier: number }
  | { kind: 'stall'; direction: 'in' | 'out' }
  | { kind: 'abort'; slot: number; seq: number }
  | { kind: 'interrupt'; bytes: Uint8Array }
  | { kind: 'note'; message: string; cause?: unknown };

/** A command without bSeq: the transport assigns it. */
export type CommandWithoutSeq = CcidCommand extends infer C
  ? C extends CcidCommand
    ? Omit<C, 'seq'>
    : never
  : never;

/** Options of {@link CcidTransport}. */
export interface CcidTransportOptions {
  device: USBDevice;
  /** The claimed CCID interface. */
  info: CcidInterfaceInfo;
  onLog?: ((e: CcidLogEntry) => void) | undefined;
  /** Called once when the reader is gone, with the platform error. */
  onGone: (cause: unknown) => void;
  onInterrupt: (m: CcidInterruptMessage) => void;
}

/** clearHalt + retry rounds for a stalled bulk-OUT before giving up. */
const MAX_STALL_RETRIES = 3;
/** Longest wait for the SlotStatus that ends an ABORT, ms. */
const MAX_ABORT_WAIT_MS = 2000;
const EMPTY = new Uint8Array(0);

/**
 * CCID bulk transport over a claimed WebUSB interface; it only moves bytes. bSeq assignment (one
 * counter per device, ccid.md §4.2), one pending bulk-IN read at all times whose completions go to
 * the pure {@link CcidReceiver} (reassembly by dwLength, resynchronisation after a cut answer,
 * matching by bSlot/bSeq/type), timeouts restarted by time extensions (§6.2) and kept by one
 * lazy watchdog timer for all commands (deadline-watchdog.ts), ABORT (§9.2) on
 * timeout or AbortSignal, stall handling (clearHalt) and reader-gone detection. The interrupt
 * endpoint, when present, is read continuously.
 */
export class CcidTransport {
  readonly #device: USBDevice;
  readonly #info: CcidInterfaceInfo;
  readonly #opts: CcidTransportOptions;
  readonly #receiver: CcidReceiver;
  readonly #readBytes: number;
  readonly #waiters = new Map<number, AnswerWait>();
  /** One timer for every wait's timeout (deadline-watchdog.ts), on performance.now() and the global timers. */
  readonly #watchdog = new DeadlineWatchdog();
  /** A wait timed out or was aborted: its answer, whole or partial, is not awaited any more (resync rule 3). */
  readonly #giveUp = (slot: number, seq: number): void =>
    this.#apply(this.#receiver.cancel(slot, seq));
  #seq = 0;
  #isClosed = false;
  #goneError: CcidError | undefined;
  /** Counters for benchmarks/tests. */
  readonly stats = { bulkOut: 0, bulkIn: 0, interruptIn: 0, control: 0 };

  constructor(opts: CcidTransportOptions) {
    const { info } = opts;
    this.#device = opts.device;
    this.#info = info;
    this.#opts = opts;
    const maxMsg = Math.min(Math.max(info.maxMessageLength, 64), 65536 + CCID_HEADER_BYTES + 16);
    const pkt = info.bulkIn?.packetSize || 64;
    this.#receiver = new CcidReceiver({
      packetSize: pkt,
      maxMessageBytes: Math.max(info.maxMessageLength, 65536 + CCID_HEADER_BYTES + 16),
    });
    // A multiple of wMaxPacketSize (ccid.md §1): otherwise a full packet into a short buffer overflows.
    // One packet more than the largest message, so a message that is an exact multiple of the packet
    // size completes with its ZLP in the same read instead of leaving the ZLP for an extra read.
    this.#readBytes = (Math.floor(maxMsg / pkt) + 1) * pkt;
  }

  get isGone(): boolean {
    return this.#goneError !== undefined;
  }

  /** Starts the bulk-IN and interrupt-IN readers. */
  start(): void {
    void this.#bulkPump();
    if (this.#info.interrupt)
      void runInterruptPump({
        device: this.#device,
        info: this.#info,
        isStopped: () => this.#isClosed || this.#goneError !== undefined,
        onGone: (e) => this.#markGone(e),
        onRead: () => this.stats.interruptIn++,
        onMessage: (m, bytes) => {
          this.#opts.onLog?.({ kind: 'interrupt', bytes });
          this.#opts.onInterrupt(m);
        },
      });
  }

  /** Stops reading and fails pending exchanges with CCID_CLOSED; leaves no timer behind. */
  close(): void {
    this.#isClosed = true;
    for (const w of this.#waiters.values()) w.reject(new CcidError('CCID_CLOSED', 'reader closed'));
    this.#waiters.clear();
    this.#watchdog.stop();
  }

  /** Throws the reason the transport can't be used, if any. */
  assertUsable(): void {
    if (this.#goneError) throw this.#goneError;
    if (this.#isClosed) throw new CcidError('CCID_CLOSED', 'reader closed');
  }

  /**
   * Sends one command and resolves with its final answer (never a time-extension frame). Rejects
   * with CCID_TIMEOUT / CCID_ABORTED (after ABORT), CCID_READER_GONE, CCID_TRANSFER_FAILED,
   * CCID_BAD_SEQUENCE, CCID_CLOSED.
   */
  async exchange(cmd: CommandWithoutSeq, opts: ExchangeOptions): Promise<CcidResponse> {
    this.assertUsable();
    if (opts.signal?.aborted)
      throw new CcidError('CCID_ABORTED', 'aborted before sending', { cause: opts.signal.reason });
    if (this.#waiters.has(cmd.slot))
      throw new CcidError('CCID_BUSY', `slot ${cmd.slot} has a command in flight`);
    const seq = this.#seq;
    this.#seq = (this.#seq + 1) & 0xff;
    // Awaited: an async function returning a promise as it is costs two more microtask turns.
    return await this.#run({ ...cmd, seq } as CcidCommand, opts, true);
  }

  async #run(full: CcidCommand, opts: ExchangeOptions, canAbort: boolean): Promise<CcidResponse> {
    const wait = new AnswerWait(full, opts, this.#giveUp, this.#watchdog);
    this.#waiters.set(full.slot, wait);
    this.#receiver.expect(full.slot, full.seq, responseTypeFor(full.type));
    wait.start();
    try {
      await this.#write(encodeCommand(full));
      return await wait.answer;
    } catch (e) {
      const isCancelled =
        isCcidError(e) && (e.code === 'CCID_TIMEOUT' || e.code === 'CCID_ABORTED');
      if (canAbort && isCancelled && !this.#goneError && !this.#isClosed)
        await this.#abort(full.slot, full.seq, Math.min(opts.timeoutMs, MAX_ABORT_WAIT_MS));
      throw e;
    } finally {
      wait.dispose();
      if (this.#waiters.get(full.slot) === wait) this.#waiters.delete(full.slot);
      this.#receiver.forget(full.slot, full.seq);
    }
  }

  /** ABORT procedure (CCID rev 1.1 §5.3.1): class request, then PC_to_RDR_Abort with the same bSlot/bSeq. Failures are logged only. */
  async #abort(slot: number, seq: number, timeoutMs: number): Promise<void> {
    this.#opts.onLog?.({ kind: 'abort', slot, seq });
    this.#waiters.delete(slot);
    try {
      this.stats.control++;
      await this.#device.controlTransferOut({
        requestType: 'class',
        recipient: 'interface',
        request: CcidRequest.ABORT,
        value: (seq << 8) | slot,
        index: this.#info.interfaceNumber,
      });
    } catch (e) {
      if (isDisconnectError(e)) this.#markGone(e);
      this.#opts.onLog?.({ kind: 'note', message: 'ABORT control request failed', cause: e });
    }
    // Closed (or gone) while the control request was out: no PC_to_RDR_Abort, so no wait for its
    // SlotStatus and no deadline armed on the stopped watchdog that would outlive close().
    if (this.#goneError || this.#isClosed) return;
    try {
      await this.#run({ type: 'Abort', slot, seq }, { timeoutMs }, false);
    } catch (e) {
      this.#opts.onLog?.({ kind: 'note', message: 'PC_to_RDR_Abort got no SlotStatus', cause: e });
    }
  }

  async #write(bytes: Uint8Array): Promise<void> {
    const ep = this.#info.bulkOut!.endpointNumber;
    this.#opts.onLog?.({ kind: 'out', bytes });
    for (let attempt = 0; ; attempt++) {
      let r: USBOutTransferResult;
      try {
        this.stats.bulkOut++;
        r = await this.#device.transferOut(ep, bytes as Uint8Array<ArrayBuffer>);
      } catch (e) {
        throw this.#platformFailure('bulk-OUT transfer', e);
      }
      if (r.status === 'ok' && r.bytesWritten === bytes.length) return;
      if (r.status === 'stall' && attempt < MAX_STALL_RETRIES) {
        // style.md §2: a stall is a result: clear the halt, then retry (bounded).
        this.#opts.onLog?.({ kind: 'stall', direction: 'out' });
        try {
          this.stats.control++;
          await this.#device.clearHalt('out', ep);
        } catch (e) {
          throw this.#platformFailure('clearHalt(out)', e);
        }
        continue;
      }
      throw new CcidError(
        'CCID_TRANSFER_FAILED',
        `bulk-OUT ${r.status}, ${r.bytesWritten} of ${bytes.length} bytes written`,
      );
    }
  }

  #platformFailure(what: string, e: unknown): CcidError {
    if (isCcidError(e)) return e;
    if (isDisconnectError(e) || !this.#device.opened) return this.#markGone(e);
    return transferError(what, e);
  }

  #markGone(cause: unknown): CcidError {
    if (!this.#goneError) {
      this.#goneError = new CcidError('CCID_READER_GONE', 'the reader was disconnected', { cause });
      for (const w of this.#waiters.values()) w.reject(this.#goneError);
      this.#waiters.clear();
      this.#watchdog.stop();
      if (!this.#isClosed) this.#opts.onGone(cause);
    }
    return this.#goneError;
  }

  async #bulkPump(): Promise<void> {
    const ep = this.#info.bulkIn!.endpointNumber;
    let failures = 0;
    while (!this.#isClosed && !this.#goneError) {
      let r: USBInTransferResult;
      try {
        this.stats.bulkIn++;
        r = await this.#device.transferIn(ep, this.#readBytes);
      } catch (e) {
        if (this.#isClosed) return;
        if (isDisconnectError(e) || !this.#device.opened || ++failures > 3) {
          this.#markGone(e);
          return;
        }
        this.#opts.onLog?.({ kind: 'note', message: 'bulk-IN transfer failed', cause: e });
        continue;
      }
      failures = 0;
      if (r.status === 'ok') {
        const d = r.data;
        this.#apply(
          this.#receiver.push(d ? new Uint8Array(d.buffer, d.byteOffset, d.byteLength) : EMPTY),
        );
        continue;
      }
      // Stall or babble: packets were lost, so the partial message is (resync rule 3).
      this.#apply(this.#receiver.discardPartial());
      if (r.status === 'stall') await this.#clearInHalt(ep);
    }
  }

  async #clearInHalt(ep: number): Promise<void> {
    this.#opts.onLog?.({ kind: 'stall', direction: 'in' });
    try {
      this.stats.control++;
      await this.#device.clearHalt('in', ep);
    } catch (e) {
      if (isDisconnectError(e)) this.#markGone(e);
    }
  }

  /** Carries out what the receiver decided: settle waiters, restart timers, log drops. */
  #apply(events: CcidReceiverEvent[]): void {
    for (let i = 0; i < events.length; i++) {
      const ev = events[i]!;
      switch (ev.type) {
        case 'answer': {
          this.#opts.onLog?.({ kind: 'in', bytes: ev.bytes });
          const w = this.#waiters.get(ev.response.slot);
          this.#waiters.delete(ev.response.slot);
          w?.resolve(ev.response);
          break;
        }
        case 'time-extension':
          this.#opts.onLog?.({
            kind: 'time-extension',
            slot: ev.slot,
            seq: ev.seq,
            multiplier: ev.multiplier,
          });
          this.#waiters.get(ev.slot)?.onTimeExtension(ev.multiplier);
          break;
        case 'dropped':
          this.#opts.onLog?.({ kind: 'dropped', reason: ev.reason, bytes: ev.bytes });
          break;
        case 'out-of-sequence': {
          const w = this.#waiters.get(ev.slot);
          this.#waiters.delete(ev.slot);
          w?.reject(ev.error);
          break;
        }
      }
    }
  }
}
