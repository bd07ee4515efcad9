/**
 * A scripted USBDevice that replays the shape of a real reader's traffic (ccid.md §16.2: Alcor Link
 * AK9563, 16-byte bulk packets, extended APDU level, T=0 EMV card): every answer is delivered as
 * its whole 16-byte packets in one bulk-IN completion, then the remainder in a second one, as the
 * capture shows. A `tamper` hook rewrites the completions of chosen answers (cut, drop, duplicate,
 * stale frames) so a test can replay a faulty reader. Descriptors come from card-sim's `packet16`
 * profile (an independent oracle); the answers are written by hand from the capture and encoded
 * with the core's `encodeResponse`.
 */
import { buildConfigurationDescriptor, ENDPOINT, readerProfiles } from '@cardlend/card-sim';
import type { CcidResponseType } from '../src/core/index.ts';
import { encodeResponse } from '../src/core/index.ts';
import { usbTransfer } from './core-fixtures.ts';

const PROFILE = readerProfiles.packet16;
export const REPLAY_PACKET_BYTES = PROFILE.bulkPacketSize;
const ATR = Uint8Array.of(0x3b, 0x65, 0x00, 0x00, 0x20, 0x63, 0xcb, 0xbc, 0x00);
/** FCI of the selected application: 34 bytes, so GET RESPONSE's DataBlock is 46 bytes = 32 + 14. */
export const REPLAY_FCI = Uint8Array.from({ length: 34 }, (_, i) => (0x6f + i * 3) & 0xff);

/** What the tamper hook gets: the n-th answer (0-based, every answer counted), its bytes and completions. */
export interface ReplayAnswer {
  index: number;
  commandType: number;
  message: Uint8Array;
  completions: Uint8Array[];
}

/** Options of {@link ReplayDevice}. */
export interface ReplayDeviceOptions {
  /** Returns the completions to deliver instead (default: unchanged). */
  tamper?: (a: ReplayAnswer) => Uint8Array[];
}

/** Whole packets in one completion, then the rest (ccid.md §16.2). */
export function captureShape(msg: Uint8Array): Uint8Array[] {
  return usbTransfer(msg, REPLAY_PACKET_BYTES);
}

/** A successful RDR_to_PC answer on slot 0 with bmICCStatus `iccStatus`. */
function reply(
  type: CcidResponseType,
  seq: number,
  iccStatus: number,
  data?: Uint8Array,
  bSpecific = 0,
): Uint8Array {
  return encodeResponse({ type, slot: 0, seq, iccStatus, bSpecific, ...(data ? { data } : {}) });
}

/** The card behind the reader: SELECT answers 61 22, GET RESPONSE the FCI, anything else 6D 00. */
function cardAnswer(apdu: Uint8Array): Uint8Array {
  if (apdu[1] === 0xa4) return Uint8Array.of(0x61, REPLAY_FCI.length);
  if (apdu[1] === 0xc0) return Uint8Array.of(...REPLAY_FCI, 0x90, 0x00);
  return Uint8Array.of(0x6d, 0x00);
}

type Pending = { resolve: (r: USBInTransferResult) => void; reject: (e: unknown) => void };

/** The scripted reader; `device` is what the driver opens. */
export class ReplayDevice {
  readonly aborts: { slot: number; seq: number }[] = [];
  readonly #opts: ReplayDeviceOptions;
  readonly #queue: Uint8Array[] = [];
  readonly #pending: Pending[] = [];
  readonly #interruptPending: Pending[] = [];
  #answers = 0;
  #isOpened = false;
  #isPowered = false;

  constructor(opts: ReplayDeviceOptions = {}) {
    this.#opts = opts;
  }

  get device(): USBDevice {
    const isOpened = (): boolean => this.#isOpened;
    const cfg = buildConfigurationDescriptor(PROFILE);
    const ok = async (): Promise<void> => undefined;
    return {
      vendorId: PROFILE.vendorId,
      productId: PROFILE.productId,
      productName: PROFILE.product,
      manufacturerName: PROFILE.manufacturer,
      serialNumber: 'replay',
      configuration: { configurationValue: 1 },
      get opened() {
        return isOpened();
      },
      open: async () => void (this.#isOpened = true),
      close: async () => this.#close(),
      selectConfiguration: ok,
      claimInterface: ok,
      releaseInterface: ok,
      selectAlternateInterface: ok,
      clearHalt: ok,
      controlTransferIn: async (_setup: USBControlTransferParameters, length: number) => ({
        status: 'ok',
        data: new DataView(cfg.buffer.slice(0, Math.min(length, cfg.length))),
      }),
      controlTransferOut: async (setup: USBControlTransferParameters) => {
        this.aborts.push({ slot: setup.value & 0xff, seq: setup.value >> 8 });
        return { status: 'ok', bytesWritten: 0 };
      },
      transferOut: async (_ep: number, data: BufferSource) => {
        const bytes = new Uint8Array(data as ArrayBuffer);
        this.#onCommand(bytes);
        return { status: 'ok', bytesWritten: bytes.length };
      },
      transferIn: (ep: number) =>
        new Promise<USBInTransferResult>((resolve, reject) => {
          // The interrupt endpoint never reports anything here; it stays pending until close.
          if (ep !== (ENDPOINT.bulkIn & 0x0f))
            return void this.#interruptPending.push({ resolve, reject });
          this.#pending.push({ resolve, reject });
          this.#flush();
        }),
    } as unknown as USBDevice;
  }

  #close(): void {
    this.#isOpened = false;
    for (const p of [...this.#pending.splice(0), ...this.#interruptPending.splice(0)])
      p.reject(new DOMException('transfer cancelled', 'AbortError'));
  }

  #onCommand(cmd: Uint8Array): void {
    const type = cmd[0]!;
    const seq = cmd[6]!;
    const icc = this.#isPowered ? 0 : 1;
    let answer: Uint8Array;
    if (type === 0x62) {
      this.#isPowered = true;
      answer = reply('DataBlock', seq, 0, ATR);
    } else if (type === 0x63) {
      this.#isPowered = false;
      answer = reply('SlotStatus', seq, 1);
    } else if (type === 0x61) answer = reply('Parameters', seq, icc, cmd.subarray(10), cmd[7]);
    else if (type === 0x6f) answer = reply('DataBlock', seq, icc, cardAnswer(cmd.subarray(10)));
    else answer = reply('SlotStatus', seq, icc); // GetSlotStatus, Abort
    const completions = captureShape(answer);
    const index = this.#answers++;
    const out =
      this.#opts.tamper?.({ index, commandType: type, message: answer, completions }) ??
      completions;
    this.#queue.push(...out);
    this.#flush();
  }

  #flush(): void {
    while (this.#queue.length && this.#pending[0]) {
      const p = this.#pending.shift()!;
      const c = this.#queue.shift()!;
      p.resolve({ status: 'ok', data: new DataView(c.slice().buffer) });
    }
  }
}
