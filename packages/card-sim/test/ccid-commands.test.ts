import { describe, expect, it } from 'vitest';
import { CCID_ERROR } from '../src/ccid-constants.ts';
import { hexToBytes } from '../src/bytes.ts';
import { readerProfiles, type ReaderProfile } from '../src/profiles.ts';
import { SimulatedReader } from '../src/simulated-reader.ts';
import {
  createT0Card,
  createT1Card,
  loopbackAnswer,
  type VirtualCard,
} from '../src/virtual-card.ts';
import { decodeReply, encodeCommand, MiniHost } from './helpers/mini-host.ts';

async function setup(profile: ReaderProfile, card: VirtualCard | null = createT0Card(), slot = 0) {
  const reader = new SimulatedReader({ profile });
  if (card) reader.insertCard(card, slot);
  const host = new MiniHost(reader);
  await host.open();
  return { reader, host };
}

const readInterrupt = async (reader: SimulatedReader) => {
  const r = await reader.device.transferIn(3, reader.profile.interruptPacketSize);
  return Array.from(new Uint8Array(r.data!.buffer, r.data!.byteOffset, r.data!.byteLength));
};

describe('power and slot status', () => {
  it('IccPowerOn returns the ATR; IccPowerOff and GetSlotStatus report the ICC status', async () => {
    const card = createT0Card();
    const { host } = await setup(readerProfiles.shortApdu, card);
    let s = await host.command(0x65);
    expect([s.type, s.status, s.error]).toEqual([0x81, 0x01, 0]);
    const on = await host.powerOn();
    expect([on.type, on.status]).toEqual([0x80, 0x00]);
    expect(Array.from(on.data)).toEqual(Array.from(card.atr));
    s = await host.command(0x65);
    expect(s.status).toBe(0x00);
    const off = await host.command(0x63);
    expect([off.type, off.status]).toEqual([0x81, 0x01]);
  });

  it('a card pulled and re-inserted between two polls shows as present but inactive', async () => {
    const { host, reader } = await setup(readerProfiles.noInterrupt, createT1Card());
    await host.powerOn();
    expect((await host.command(0x65)).status).toBe(0x00);
    reader.removeCard();
    reader.insertCard(createT1Card());
    expect((await host.command(0x65)).status).toBe(0x01);
    expect(await host.xfr(Uint8Array.of(0, 0x40, 0x90, 0))).toMatchObject({
      status: 0x41,
      error: CCID_ERROR.ICC_MUTE,
    });
  });

  it('empty slot: PowerOn fails with ICC_MUTE and bmICCStatus 2; GetSlotStatus per profile', async () => {
    const ok = await setup(readerProfiles.shortApdu, null);
    expect(await ok.host.powerOn()).toMatchObject({ status: 0x42, error: CCID_ERROR.ICC_MUTE });
    expect(await ok.host.command(0x65)).toMatchObject({ status: 0x02, error: 0 });
    const failed = await setup(readerProfiles.tpduT0, null);
    expect(await failed.host.command(0x65)).toMatchObject({
      status: 0x42,
      error: CCID_ERROR.ICC_MUTE,
    });
  });

  it('bPowerSelect: bad value → offset 7, voltage the reader lacks → offset 7, class the card lacks → 0xF5', async () => {
    const { host } = await setup(readerProfiles.shortApdu, createT0Card({ voltageClasses: 0x01 }));
    expect(await host.powerOn(0, 4)).toMatchObject({ status: 0x41, error: 0x07 });
    expect(await host.powerOn(0, 3)).toMatchObject({ status: 0x41, error: 0x07 }); // AU9520: 0x03 = 5 V + 3 V
    expect(await host.powerOn(0, 2)).toMatchObject({
      status: 0x41,
      error: CCID_ERROR.ICC_CLASS_NOT_SUPPORTED,
    });
    expect(await host.powerOn(0, 1)).toMatchObject({ status: 0x00 });
  });

  it('bSeq and bSlot are echoed; a bad slot gets offset 5', async () => {
    const { host } = await setup(readerProfiles.multiSlot, createT0Card(), 3);
    host.seq = 0xfe;
    const r = await host.command(0x62, { slot: 3 });
    expect([r.slot, r.seq, r.status]).toEqual([3, 0xfe, 0]);
    const bad = await host.command(0x65, { slot: 5 });
    expect([bad.slot, bad.error, bad.status >> 6]).toEqual([5, CCID_ERROR.BAD_SLOT, 1]);
  });

  it('unknown command, Escape, Secure and Mechanical are not supported (bError 0) with the right response type', async () => {
    const { host } = await setup(readerProfiles.shortApdu);
    expect(await host.command(0x99)).toMatchObject({ type: 0x81, status: 0x41, error: 0 });
    expect(await host.command(0x6b, { data: Uint8Array.of(1, 2) })).toMatchObject({
      type: 0x83,
      status: 0x41,
      error: 0,
    });
    expect(await host.command(0x69, { data: Uint8Array.of(0) })).toMatchObject({
      type: 0x80,
      status: 0x41,
      error: 0,
    });
    expect(await host.command(0x71, { b7: 1 })).toMatchObject({
      type: 0x81,
      status: 0x41,
      error: 0,
    });
  });

  it('IccClock on a reader with clock stop (0x100), T0APDU, SetDataRateAndClockFrequency', async () => {
    const { host } = await setup(readerProfiles.extendedApdu);
    await host.powerOn();
    expect(await host.command(0x6e, { b7: 1 })).toMatchObject({ status: 0, b9: 1 });
    expect(await host.command(0x6e, { b7: 0 })).toMatchObject({ status: 0, b9: 0 });
    expect(await host.command(0x6e, { b7: 2 })).toMatchObject({ status: 0x40, error: 7 });
    const noStop = await setup(readerProfiles.shortApdu);
    await noStop.host.powerOn();
    expect(await noStop.host.command(0x6e, { b7: 1 })).toMatchObject({ status: 0x40, error: 0 });
    expect(await host.command(0x6a, { b7: 3, b8: 0x80, b9: 0x80 })).toMatchObject({
      type: 0x81,
      status: 0,
    });
    const rate = await host.command(0x73, { data: hexToBytes('a00f0000 00800000') }); // 4000 kHz, 32768 bps
    expect(rate.type).toBe(0x84);
    expect(Array.from(rate.data)).toEqual(Array.from(hexToBytes('a00f0000 00800000')));
    expect(await host.command(0x73, { data: Uint8Array.of(1) })).toMatchObject({
      status: 0x40,
      error: 1,
    });
  });

  it('dwLength above dwMaxCCIDMessageLength is refused with offset 1', async () => {
    const { host } = await setup(readerProfiles.shortApdu);
    await host.powerOn();
    const r = await host.xfr(new Uint8Array(300));
    expect(r).toMatchObject({ type: 0x80, error: 1 });
    expect(r.status >> 6).toBe(1);
  });
});

describe('SCM dwMaxCCIDMessageLength quirk', () => {
  it('vendorClass (SCR331-DI) announces 263 but accepts 271-byte messages; 272 is refused', async () => {
    const { host } = await setup(readerProfiles.vendorClass);
    await host.powerOn();
    const tpdu = Uint8Array.of(0x00, 0x30, 0x00, 0x00, 0xff, ...new Uint8Array(255).fill(7)); // 260 bytes
    const ok = await host.xfr(tpdu);
    expect([ok.status, Array.from(ok.data)]).toEqual([0, [0x61, 0xff]]);
    expect(await host.xfr(new Uint8Array(262))).toMatchObject({ error: 1 });
  });
});

describe('interrupt endpoint', () => {
  it('NotifySlotChange on insert and remove, HardwareError', async () => {
    const { reader } = await setup(readerProfiles.tpduT0, null);
    reader.insertCard(createT0Card());
    expect(await readInterrupt(reader)).toEqual([0x50, 0x03]);
    const pending = readInterrupt(reader);
    reader.removeCard();
    expect(await pending).toEqual([0x50, 0x02]);
    reader.injectHardwareError(0, 1, 7);
    expect(await readInterrupt(reader)).toEqual([0x51, 0, 7, 1]);
  });

  it('multi-slot bitmaps: 2 bits per slot, changed bit separate', async () => {
    const { reader } = await setup(readerProfiles.multiSlot, null);
    reader.insertCard(createT0Card(), 0);
    reader.insertCard(createT1Card(), 4);
    // slot 0 present+changed (bits 0-1 = 3), slot 4 present+changed in byte 2 bits 0-1
    expect(await readInterrupt(reader)).toEqual([0x50, 0x03, 0x03]);
    reader.removeCard(0);
    expect(await readInterrupt(reader)).toEqual([0x50, 0x02, 0x01]);
  });
});

describe('busy slots and abort', () => {
  it('a second command to a busy slot gets CMD_SLOT_BUSY; bMaxCCIDBusySlots 1 blocks other slots too', async () => {
    const slow = createT0Card({ timeExtensions: 40 });
    const { reader, host } = await setup(readerProfiles.multiSlot, slow, 0);
    reader.insertCard(createT0Card(), 1);
    await host.powerOn(0);
    await host.powerOn(1);
    await host.write(encodeCommand(0x6f, { seq: 50, data: Uint8Array.of(0, 0x20, 0, 4, 4) }));
    await host.write(encodeCommand(0x65, { seq: 51, slot: 0 }));
    await host.write(encodeCommand(0x65, { seq: 52, slot: 1 }));
    const seen: { seq: number; status: number; error: number }[] = [];
    while (seen.filter((r) => r.seq === 50 && r.status >> 6 !== 2).length === 0) {
      const r = await host.read();
      seen.push({ seq: r.seq, status: r.status, error: r.error });
    }
    expect(seen).toContainEqual({ seq: 51, status: 0x40, error: CCID_ERROR.CMD_SLOT_BUSY });
    expect(seen).toContainEqual({ seq: 52, status: 0x40, error: CCID_ERROR.CMD_SLOT_BUSY });
    expect(seen.filter((r) => r.seq === 50 && r.status === 0x80)).toHaveLength(40);
  });

  it('multiSlotConcurrent: commands to different slots overlap', async () => {
    const { reader, host } = await setup(
      readerProfiles.multiSlotConcurrent,
      createT0Card({ timeExtensions: 2 }),
      0,
    );
    reader.insertCard(createT0Card(), 1);
    await host.powerOn(0);
    await host.powerOn(1);
    await host.write(
      encodeCommand(0x6f, { seq: 60, slot: 0, data: Uint8Array.of(0, 0x20, 0, 4, 4) }),
    );
    await host.write(encodeCommand(0x65, { seq: 61, slot: 1 }));
    const replies = [];
    for (let i = 0; i < 4; i++) replies.push(await host.read());
    expect(replies.find((r) => r.seq === 61)).toMatchObject({ status: 0, slot: 1 });
  });

  it('ABORT control request + PC_to_RDR_Abort: the running command ends with CMD_ABORTED', async () => {
    const { reader, host } = await setup(
      readerProfiles.shortApdu,
      createT0Card({ timeExtensions: 50 }),
    );
    await host.powerOn();
    await host.write(encodeCommand(0x6f, { seq: 9, data: Uint8Array.of(0, 0x20, 0, 4, 4) }));
    const ext = await host.read();
    expect(ext.status).toBe(0x80);
    await reader.device.controlTransferOut({
      requestType: 'class',
      recipient: 'interface',
      request: 1,
      value: (9 << 8) | 0,
      index: 0,
    });
    await host.write(encodeCommand(0x72, { seq: 9 }));
    const replies = [];
    for (;;) {
      const r = await host.read();
      replies.push(r);
      if (r.type === 0x81) break;
    }
    expect(replies.some((r) => r.type === 0x80 && r.error === CCID_ERROR.CMD_ABORTED)).toBe(true);
    expect(replies.at(-1)).toMatchObject({ type: 0x81, seq: 9, status: 0 });
    // slot usable again
    expect((await host.command(0x65)).status).toBe(0);
  });
});

describe('time extension', () => {
  it('a slow card gets DataBlock frames with bStatus 0x80 and bError = multiplier before the answer', async () => {
    const { host } = await setup(readerProfiles.shortApdu, createT0Card({ timeExtensions: 4 }));
    await host.powerOn();
    const apdu = Uint8Array.of(0, 0x20, 0, 4, 4);
    const r = await host.command(0x6f, { data: apdu });
    expect(r.timeExtensions).toBe(4);
    expect(Array.from(r.data)).toEqual(Array.from(loopbackAnswer(apdu)));
  });

  it('a slow-reader fault adds time extensions with the configured multiplier', async () => {
    const reader = new SimulatedReader({
      profile: readerProfiles.shortApdu,
      faults: { slowReader: { count: 1, timeExtensions: 2, multiplier: 5 } },
    });
    reader.insertCard(createT0Card());
    const host = new MiniHost(reader);
    await host.open();
    await host.powerOn();
    await host.write(encodeCommand(0x6f, { seq: 1, data: Uint8Array.of(0, 0x40, 0x90, 0) }));
    const a = await host.read();
    expect([a.type, a.status, a.error, a.data.length]).toEqual([0x80, 0x80, 5, 0]);
    expect((await host.read()).status).toBe(0x80);
    expect(Array.from((await host.read()).data)).toEqual([0x90, 0x00]);
  });
});

describe('time extension per command', () => {
  it('only the XfrBlock the slow-reader fault fires on waits; a slow card adds its own', async () => {
    const reader = new SimulatedReader({
      profile: readerProfiles.shortApdu,
      faults: { slowReader: { after: 1, count: 1, timeExtensions: 2, multiplier: 3 } },
    });
    reader.insertCard(createT0Card({ timeExtensions: 1 }));
    const host = new MiniHost(reader);
    await host.open();
    await host.powerOn();
    const extensionsOf = async (seq: number): Promise<number[]> => {
      await host.write(encodeCommand(0x6f, { seq, data: Uint8Array.of(0, 0x40, 0x90, 0) }));
      const errors: number[] = [];
      for (let r = await host.read(); ; r = await host.read()) {
        if (r.status !== 0x80) {
          expect(Array.from(r.data)).toEqual([0x90, 0x00]);
          return errors;
        }
        errors.push(r.error);
      }
    };
    // The card's own extension (multiplier 1) always; the reader's two only on the second command.
    expect(await extensionsOf(1)).toEqual([1]);
    expect(await extensionsOf(2)).toEqual([3, 3, 3]);
    expect(await extensionsOf(3)).toEqual([1]);
  });
});

describe('decodeReply helper sanity', () => {
  it('decodes header fields', () => {
    expect(decodeReply(Uint8Array.of(0x81, 0, 0, 0, 0, 2, 3, 1, 0, 0))).toMatchObject({
      type: 0x81,
      slot: 2,
      seq: 3,
      status: 1,
    });
  });
});
