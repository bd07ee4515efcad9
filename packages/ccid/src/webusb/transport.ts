import type {
  CcidCommand,
  CcidInterfaceInfo,
  CcidResponse,
  CcidResponseType,
} from '../core/index.ts';
import {
  CcidError,
  CcidMessageAssembler,
  CcidRequest,
  CCID_HEADER_BYTES,
  decodeInterrupt,
  decodeResponse,
  encodeCommand,
  isCcidError,
  responseTypeFor,
} from '../core/index.ts';
import type { CcidInterruptMessage } from '../core/index.ts';
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

interface Waiter {
  seq: number;
  expect: CcidResponseType;
  resolve: (r: CcidResponse) => void;
  reject: (e: unknown) => void;
  onTimeExtension: (multiplier: number) => void;
  wrongFrames: number;
}

/** Options of {@link CcidTransport}. */
export interface CcidTransportOptions {
  onLog?: ((e: CcidLogEntry) => void) | undefined;
  /** Called once when the reader is gone, with the platform error. */
  onGone: (cause: unknown) => void;
  onInterrupt: (m: CcidInterruptMessage) => void;
}

/** Options of one exchange. */
export interface ExchangeOptions {
  /** Time to wait for the answer, ms; restarted (× bError) on each time-extension frame. */
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  /** Time-extension frames accepted for one command before giving up with CCID_TIMEOUT. Default 1000. */
  maxTimeExtensions?: number | undefined;
}

const DEFAULT_MAX_TIME_EXTENSIONS = 1000;

const MAX_WRONG_FRAMES = 10;
/** clearHalt + retry rounds for a stalled bulk-OUT before giving up. */
const MAX_STALL_RETRIES = 3;

/**
 * CCID bulk transport over a claimed WebUSB interface: bSeq assignment (one counter per device,
 * ccid.md §4.2), one pending bulk-IN read at all times whose completions are reassembled by dwLength
 * (any packet size, ZLPs skipped, §4.1), answers dispatched by bSlot/bSeq (stale ones dropped),
 * time extension (bmCommandStatus 2, §6.2) restarting the timeout, ABORT (§9.2) on timeout or
 * AbortSignal, stall handling (clearHalt) and reader-gone detection. The interrupt endpoint, when
 * present, is read continuously and decoded.
 */
export class CcidTransport {
  readonly #device: USBDevice;
  readonly #info: CcidInterfaceInfo;
  readonly #opts: CcidTransportOptions;
  readonly #assembler: CcidMessageAssembler;
  readonly #readBytes: number;
  readonly #waiters = new Map<number, Waiter>();
  #seq = 0;
  #isClosed = false;
  #goneError: CcidError | undefined;
  /** Counters for benchmarks/tests. */
  readonly stats = { bulkOut: 0, bulkIn: 0, interruptIn: 0, control: 0 };

  constructor(device: USBDevice, info: CcidInterfaceInfo, opts: CcidTransportOptions) {
    this.#device = device;
    this.#info = info;
    this.#opts = opts;
    const maxMsg = Math.min(Math.max(info.maxMessageLength, 64), 65536 + CCID_HEADER_BYTES + 16);
    this.#assembler = new CcidMessageAssembler({
      maxMessageBytes: Math.max(info.maxMessageLength, 65536 + CCID_HEADER_BYTES + 16),
    });
    const pkt = info.bulkIn?.packetSize || 64;
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
    if (this.#info.interrupt) void this.#interruptPump();
  }

  /** Stops reading and fails pending exchanges with CCID_CLOSED. */
  close(): void {
    this.#isClosed = true;
    for (const w of this.#waiters.values()) w.reject(new CcidError('CCID_CLOSED', 'reader closed'));
    this.#waiters.clear();
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
    return this.#run({ ...cmd, seq } as CcidCommand, opts, true);
  }

  async #run(full: CcidCommand, opts: ExchangeOptions, canAbort: boolean): Promise<CcidResponse> {
    const slot = full.slot;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let onAbort: (() => void) | undefined;
    let extensions = 0;
    const answer = new Promise<CcidResponse>((resolve, reject) => {
      const arm = (ms: number): void => {
        if (timer !== undefined) clearTimeout(timer);
        timer = setTimeout(
          () => reject(new CcidError('CCID_TIMEOUT', `no answer to ${full.type} within ${ms} ms`)),
          ms,
        );
      };
      this.#waiters.set(slot, {
        seq: full.seq,
        expect: responseTypeFor(full.type),
        resolve,
        reject,
        wrongFrames: 0,
        onTimeExtension: (m) => {
          // CCID rev 1.1 §6.2.7: restart the wait, scaled by the multiplier; bounded so a reader that
          // only ever sends time extensions can't hold the caller forever.
          if (++extensions > (opts.maxTimeExtensions ?? DEFAULT_MAX_TIME_EXTENSIONS))
            reject(
              new CcidError(
                'CCID_TIMEOUT',
                `${full.type}: more than ${opts.maxTimeExtensions ?? DEFAULT_MAX_TIME_EXTENSIONS} time extensions`,
              ),
            );
          else arm(opts.timeoutMs * Math.max(1, m));
        },
      });
      arm(opts.timeoutMs);
      if (opts.signal) {
        const signal = opts.signal;
        onAbort = () =>
          reject(new CcidError('CCID_ABORTED', `${full.type} aborted`, { cause: signal.reason }));
        signal.addEventListener('abort', onAbort, { once: true });
      }
    });
    try {
      await this.#write(encodeCommand(full));
      return await answer;
    } catch (e) {
      if (
        canAbort &&
        isCcidError(e) &&
        (e.code === 'CCID_TIMEOUT' || e.code === 'CCID_ABORTED') &&
        !this.#goneError &&
        !this.#isClosed
      ) {
        await this.#abort(slot, full.seq, Math.min(opts.timeoutMs, 2000));
      }
      throw e;
    } finally {
      if (timer !== undefined) clearTimeout(timer);
      if (onAbort) opts.signal?.removeEventListener('abort', onAbort);
      if (this.#waiters.get(slot)?.seq === full.seq) this.#waiters.delete(slot);
      answer.catch(() => undefined);
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
    if (this.#goneError) return;
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
      if (r.status === 'stall') {
        this.#opts.onLog?.({ kind: 'stall', direction: 'in' });
        this.#assembler.reset();
        try {
          this.stats.control++;
          await this.#device.clearHalt('in', ep);
        } catch (e) {
          if (isDisconnectError(e)) this.#markGone(e);
        }
        continue;
      }
      if (r.status === 'babble') {
        this.#assembler.reset();
        continue;
      }
      const data = r.data;
      if (!data || data.byteLength === 0) continue; // ZLP (ccid.md §4.1)
      const chunk = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      const dropped = this.#assembler.droppedBytes;
      for (const msg of this.#assembler.push(chunk)) this.#dispatch(msg);
      if (this.#assembler.droppedBytes !== dropped)
        this.#opts.onLog?.({ kind: 'dropped', reason: 'bad header', bytes: chunk.slice() });
    }
  }

  #dispatch(bytes: Uint8Array): void {
    this.#opts.onLog?.({ kind: 'in', bytes });
    let r: CcidResponse;
    try {
      r = decodeResponse(bytes);
    } catch {
      this.#opts.onLog?.({ kind: 'dropped', reason: 'undecodable', bytes });
      return;
    }
    const w = this.#waiters.get(r.slot);
    if (!w || w.seq !== r.seq || w.expect !== r.type) {
      // Stale answer of an aborted/timed-out command, or another slot's leftovers (ccid.md §4.2).
      this.#opts.onLog?.({ kind: 'dropped', reason: 'unexpected bSeq/bSlot/type', bytes });
      if (w && ++w.wrongFrames > MAX_WRONG_FRAMES) {
        this.#waiters.delete(r.slot);
        w.reject(
          new CcidError('CCID_BAD_SEQUENCE', `too many unexpected frames on slot ${r.slot}`),
        );
      }
      return;
    }
    if (r.commandStatus === 2) {
      this.#opts.onLog?.({
        kind: 'time-extension',
        slot: r.slot,
        seq: r.seq,
        multiplier: r.bError,
      });
      w.onTimeExtension(r.bError);
      return;
    }
    this.#waiters.delete(r.slot);
    w.resolve(r);
  }

  async #interruptPump(): Promise<void> {
    const ep = this.#info.interrupt!;
    let failures = 0;
    while (!this.#isClosed && !this.#goneError) {
      let r: USBInTransferResult;
      try {
        this.stats.interruptIn++;
        r = await this.#device.transferIn(ep.endpointNumber, Math.max(ep.packetSize, 8));
      } catch (e) {
        if (this.#isClosed) return;
        if (isDisconnectError(e) || !this.#device.opened || ++failures > 3) {
          this.#markGone(e);
          return;
        }
        continue;
      }
      failures = 0;
      if (r.status === 'stall') {
        try {
          await this.#device.clearHalt('in', ep.endpointNumber);
        } catch (e) {
          if (isDisconnectError(e)) this.#markGone(e);
        }
        continue;
      }
      const data = r.data;
      if (!data || data.byteLength === 0) continue;
      const bytes = new Uint8Array(
        data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength),
      );
      this.#opts.onLog?.({ kind: 'interrupt', bytes });
      this.#opts.onInterrupt(decodeInterrupt(bytes, this.#info.slotCount));
    }
  }
}
