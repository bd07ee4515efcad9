/**
 * A deliberately tiny CCID host used only by these tests: writes PC_to_RDR messages, reads
 * RDR_to_PC messages by reassembling USB transfers by dwLength (ccid.md §4.1).
 */
import { concatBytes } from '../../src/bytes.ts';
import { ENDPOINT } from '../../src/descriptors.ts';
import type { FaultPlan } from '../../src/faults.ts';
import type { ReaderProfile } from '../../src/profiles.ts';
import { SimulatedReader } from '../../src/simulated-reader.ts';
import type { VirtualCard } from '../../src/virtual-card.ts';

export interface CcidReply {
  type: number;
  slot: number;
  seq: number;
  status: number;
  error: number;
  b9: number;
  data: Uint8Array;
  raw: Uint8Array;
}

export function decodeReply(raw: Uint8Array): CcidReply {
  const len = raw[1]! | (raw[2]! << 8) | (raw[3]! << 16) | (raw[4]! << 24);
  return {
    type: raw[0]!,
    slot: raw[5]!,
    seq: raw[6]!,
    status: raw[7]!,
    error: raw[8]!,
    b9: raw[9]!,
    data: raw.slice(10, 10 + len),
    raw,
  };
}

export function encodeCommand(
  type: number,
  opts: { slot?: number; seq: number; b7?: number; b8?: number; b9?: number; data?: Uint8Array },
): Uint8Array {
  const data = opts.data ?? new Uint8Array(0);
  const m = new Uint8Array(10 + data.length);
  m[0] = type;
  m[1] = data.length & 0xff;
  m[2] = (data.length >> 8) & 0xff;
  m[3] = (data.length >> 16) & 0xff;
  m[5] = opts.slot ?? 0;
  m[6] = opts.seq;
  m[7] = opts.b7 ?? 0;
  m[8] = opts.b8 ?? 0;
  m[9] = opts.b9 ?? 0;
  m.set(data, 10);
  return m;
}

export class MiniHost {
  readonly reader: SimulatedReader;
  seq = 0;
  transfersIn = 0;
  constructor(reader: SimulatedReader) {
    this.reader = reader;
  }

  get device(): USBDevice {
    return this.reader.device;
  }

  async open(): Promise<void> {
    await this.device.open();
    await this.device.selectConfiguration(1);
    await this.device.claimInterface(0);
  }

  async write(msg: Uint8Array): Promise<void> {
    const r = await this.device.transferOut(ENDPOINT.bulkOut & 0x0f, msg);
    if (r.status !== 'ok') throw new Error(`transferOut ${r.status}`);
  }

  /** Reads one whole message (skipping ZLPs). */
  async read(requestLength = 65536 + 64): Promise<CcidReply> {
    let buf: Uint8Array = new Uint8Array(0);
    for (;;) {
      const r = await this.device.transferIn(ENDPOINT.bulkIn & 0x0f, requestLength);
      this.transfersIn++;
      if (r.status !== 'ok') throw new Error(`transferIn ${r.status}`);
      const chunk = new Uint8Array(r.data!.buffer, r.data!.byteOffset, r.data!.byteLength);
      buf = concatBytes(buf, chunk);
      if (buf.length >= 10) {
        const len = buf[1]! | (buf[2]! << 8) | (buf[3]! << 16);
        if (buf.length >= 10 + len) return decodeReply(buf);
      }
    }
  }

  /** Sends a command and returns the final reply (time extensions skipped and counted). */
  async command(
    type: number,
    opts: { slot?: number; b7?: number; b8?: number; b9?: number; data?: Uint8Array } = {},
  ): Promise<CcidReply & { timeExtensions: number }> {
    const seq = this.seq++ & 0xff;
    await this.write(encodeCommand(type, { ...opts, seq }));
    let ext = 0;
    for (;;) {
      const r = await this.read();
      if (r.seq !== seq) throw new Error(`bSeq ${r.seq} != ${seq}`);
      if (r.status >> 6 === 2) {
        ext++;
        continue;
      }
      return { ...r, timeExtensions: ext };
    }
  }

  powerOn(slot = 0, b7 = 0): Promise<CcidReply> {
    return this.command(0x62, { slot, b7 });
  }

  xfr(data: Uint8Array, opts: { slot?: number; level?: number } = {}): Promise<CcidReply> {
    const level = opts.level ?? 0;
    return this.command(0x6f, { slot: opts.slot ?? 0, b8: level & 0xff, b9: level >> 8, data });
  }
}

/** A reader of `profile` holding `card`, opened by a MiniHost and powered on (`atr`: the reply). */
export async function poweredHost(
  profile: ReaderProfile,
  card: VirtualCard,
  faults?: FaultPlan,
): Promise<{ reader: SimulatedReader; host: MiniHost; atr: CcidReply }> {
  const reader = new SimulatedReader({ profile, ...(faults && { faults }) });
  reader.insertCard(card);
  const host = new MiniHost(reader);
  await host.open();
  const atr = await host.powerOn();
  return { reader, host, atr };
}
