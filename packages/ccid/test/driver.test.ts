import {
  loopbackAnswer,
  createT0Card,
  createT1Card,
  SimulatedReader,
  readerProfiles,
} from '@cardlend/card-sim';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeApdu, fromHex, isCcidError } from '../src/core/index.ts';
import type { CcidLogEntry, CcidReader, ReaderEvent } from '../src/webusb/index.ts';
import { inspectDevice, openReader } from '../src/webusb/index.ts';
import { descriptorDevice } from './descriptor-device.ts';
import { cardsFor, echoApdu, hex, profiles, setup } from './helpers.ts';

const open: CcidReader[] = [];
afterEach(async () => {
  for (const r of open.splice(0)) await r.close();
});

describe('driver × every reader profile × T=0/T=1 card (card-sim)', () => {
  for (const profile of profiles) {
    for (const c of cardsFor(profile)) {
      it(`${profile.id} ${c.name}`, async () => {
        const { reader } = await setup(profile, c.make());
        open.push(reader);
        expect(reader.interfaceInfo.interfaceClass).toBe(profile.interfaceClass);
        expect(reader.slotCount).toBe(profile.maxSlotIndex + 1);
        const p = await reader.powerOn();
        expect(p.protocol).toBe(c.protocol);
        const cmds = [
          encodeApdu({ cla: 0, ins: 0xa4, p1: 4, p2: 0, data: fromHex('A000000308') }),
          encodeApdu({ cla: 0, ins: 0x20, p1: 0, p2: 200, ne: 256 }),
          encodeApdu({ cla: 0, ins: 0x20, p1: 1, p2: 0, ne: 256 }),
          echoApdu(new Uint8Array(100).fill(0x5a), 256),
          encodeApdu({ cla: 0, ins: 0x40, p1: 0x6a, p2: 0x82 }),
          encodeApdu({ cla: 0, ins: 0x10, p1: 0, p2: 0 }),
        ];
        for (const cmd of cmds)
          expect(hex(await reader.transmit(cmd)), hex(cmd)).toBe(hex(loopbackAnswer(cmd)));
        expect(await reader.getSlotStatus()).toBe('active');
        await reader.powerOff();
        expect(await reader.getSlotStatus()).toBe('inactive');
      });
    }
  }
});

describe('power-up: PPS, SetParameters, IFSD as the features require (ccid.md §11)', () => {
  it('TPDU reader without 0x80/0x40/0x400: host PPS to TA1, SetParameters, S(IFS request)', async () => {
    const profile = readerProfiles.tpduT1NoAuto;
    const { sim, reader } = await setup(profile, createT1Card({ ta1: 0x13, ifsc: 20 }));
    open.push(reader);
    const p = await reader.powerOn();
    expect(p.protocol).toBe(1);
    const st = sim.slotState();
    expect(st.ppsDone).toBe(true);
    expect(st.cardFidi).toBe(0x13);
    expect(st.readerParameters[0]).toBe(0x13);
    expect(st.t1?.ifsdNegotiated).toBe(true);
    expect(st.t1?.ifsd).toBe(
      profile.maxIfsd === 0 || profile.maxIfsd > 254 ? 254 : profile.maxIfsd,
    );
    // 300-byte command with IFSC 20: 15 host I-blocks; 400-byte answer.
    const cmd = echoApdu(
      new Uint8Array(300).map((_, i) => i),
      65536,
    );
    expect(hex(await reader.transmit(cmd))).toBe(hex(loopbackAnswer(cmd)));
  });
  it('T=0+T=1 card, reader prefers nothing: card default protocol, no PPS when speed is default', async () => {
    const { sim, reader } = await setup(
      readerProfiles.tpduT1NoAuto,
      createT1Card({ alsoT0: true, t0First: true }),
    );
    open.push(reader);
    expect((await reader.powerOn()).protocol).toBe(0);
    expect(sim.slotState().cardProtocol).toBe(0);
  });
  it('auto-PPS reader (0x80): the reader does the PPS on SetParameters', async () => {
    const { sim, reader } = await setup(readerProfiles.tpduT0, createT0Card({ ta1: 0x13 }));
    open.push(reader);
    await reader.powerOn();
    expect(sim.slotState().readerParameters[0]).toBe(0x13);
    expect(hex(await reader.transmit(fromHex('0020 0010 10')))).toBe(
      hex(loopbackAnswer(fromHex('0020 0010 10'))),
    );
  });
  it('T=1 card with WTX requests, card S(IFS request), CRC', async () => {
    const { reader } = await setup(
      readerProfiles.tpduT1NoAuto,
      createT1Card({ wtxEvery: 2, requestIfsc: 16, edc: 'crc', ifsc: 40 }),
    );
    open.push(reader);
    await reader.powerOn();
    for (let i = 0; i < 4; i++) {
      const cmd = echoApdu(new Uint8Array(90).fill(i), 256);
      expect(hex(await reader.transmit(cmd))).toBe(hex(loopbackAnswer(cmd)));
    }
  });
  it('slow card: time extensions keep the command alive', async () => {
    const { reader } = await setup(readerProfiles.shortApdu, createT0Card({ timeExtensions: 5 }), {
      timeoutMs: 2000,
    });
    open.push(reader);
    await reader.powerOn();
    expect(hex(await reader.transmit(fromHex('00A4040000')))).toBe('9000');
  });
});

describe('open / claim errors', () => {
  it('class 0x0B in a blocking context ⇒ CCID_PROTECTED_CLASS without claiming', async () => {
    const sim = new SimulatedReader({ profile: readerProfiles.shortApdu, emulateChrome: true });
    await expect(openReader(sim.device)).rejects.toMatchObject({ code: 'CCID_PROTECTED_CLASS' });
    expect(sim.device.opened).toBe(false);
  });
  it('Chrome refusing the claim ⇒ CCID_PROTECTED_CLASS with the SecurityError as cause', async () => {
    const sim = new SimulatedReader({ profile: readerProfiles.shortApdu, emulateChrome: true });
    const e = await openReader(sim.device, { isBrowserBlockingProtectedClasses: false }).catch(
      (x: unknown) => x,
    );
    expect(isCcidError(e) && e.code).toBe('CCID_PROTECTED_CLASS');
    expect((e as Error).cause).toMatchObject({ name: 'SecurityError' });
  });
  it('vendor class 0xFF opens in a blocking context', async () => {
    const sim = new SimulatedReader({ profile: readerProfiles.vendorClass, emulateChrome: true });
    sim.insertCard(createT0Card());
    const r = await openReader(sim.device, { timeoutMs: 2000 });
    open.push(r);
    expect(r.info.isProtectedClass).toBe(false);
    await r.powerOn();
  });
  it('held by pcscd ⇒ CCID_DEVICE_BUSY with cause', async () => {
    const sim = new SimulatedReader({ profile: readerProfiles.vendorClass });
    sim.setHeldByOtherProgram(true);
    const e = await openReader(sim.device, { isBrowserBlockingProtectedClasses: false }).catch(
      (x: unknown) => x,
    );
    expect(isCcidError(e) && e.code).toBe('CCID_DEVICE_BUSY');
    expect((e as Error).cause).toBeDefined();
  });
  it('inspectDevice reads the descriptors without claiming', async () => {
    const sim = new SimulatedReader({
      profile: readerProfiles.vendorClassAfterEndpoints,
      emulateChrome: true,
    });
    const info = await inspectDevice(sim.device);
    expect(info.interfaces).toHaveLength(1);
    expect(info.interfaces[0]).toMatchObject({
      interfaceClass: 0xff,
      exchangeLevel: 'tpdu',
      maxMessageLength: 270,
    });
    expect(info.isProtectedClass).toBe(false);
    expect(sim.device.opened).toBe(false);
  });
});

describe('transport behaviour', () => {
  it('a second call on a busy slot rejects CCID_BUSY (no hidden queue)', async () => {
    const { reader } = await setup(readerProfiles.shortApdu, createT0Card());
    open.push(reader);
    await reader.powerOn();
    const a = reader.transmit(fromHex('00A4040000'));
    await expect(reader.transmit(fromHex('00A4040000'))).rejects.toMatchObject({
      code: 'CCID_BUSY',
    });
    expect(hex(await a)).toBe('9000');
  });
  it('transmit before powerOn ⇒ CCID_NOT_POWERED', async () => {
    const { reader } = await setup(readerProfiles.shortApdu, createT0Card());
    open.push(reader);
    await expect(reader.transmit(fromHex('00A4040000'))).rejects.toMatchObject({
      code: 'CCID_NOT_POWERED',
    });
  });
  it('no card ⇒ CCID_CARD_ABSENT; absent slot status', async () => {
    const { reader } = await setup(readerProfiles.tpduT0, undefined);
    open.push(reader);
    expect(await reader.getSlotStatus()).toBe('absent');
    await expect(reader.powerOn()).rejects.toMatchObject({ code: 'CCID_CARD_ABSENT' });
  });
  it.each([
    {
      how: 'from the interrupt endpoint',
      profile: readerProfiles.tpduT0,
      card: createT0Card,
      whileInserted: async () => {},
    },
    {
      how: 'by polling when there is no interrupt endpoint',
      profile: readerProfiles.noInterrupt,
      card: createT1Card,
      whileInserted: async (reader: CcidReader) => {
        await reader.powerOn();
        expect(hex(await reader.transmit(fromHex('00A4040000')))).toBe('9000');
      },
    },
  ])('card events $how', async ({ profile, card, whileInserted }) => {
    const { sim, reader } = await setup(profile, undefined);
    open.push(reader);
    const events: ReaderEvent[] = [];
    reader.onEvent((e) => events.push(e));
    sim.insertCard(card());
    await waitFor(() => events.length >= 1);
    await whileInserted(reader);
    sim.removeCard();
    await waitFor(() => events.length >= 2);
    expect(events).toEqual([
      { type: 'card-inserted', slot: 0 },
      { type: 'card-removed', slot: 0 },
    ]);
  });
  it('unplug ⇒ CCID_READER_GONE once and a reader-gone event', async () => {
    const { sim, reader } = await setup(readerProfiles.shortApdu, createT0Card());
    const events: ReaderEvent[] = [];
    reader.onEvent((e) => events.push(e));
    await reader.powerOn();
    sim.unplug();
    await expect(reader.transmit(fromHex('00A4040000'))).rejects.toMatchObject({
      code: 'CCID_READER_GONE',
    });
    await expect(reader.getSlotStatus()).rejects.toMatchObject({ code: 'CCID_READER_GONE' });
    expect(events.filter((e) => e.type === 'reader-gone')).toHaveLength(1);
    await reader.close();
  });
  it('multi-slot: each slot independent', async () => {
    const { sim, reader } = await setup(readerProfiles.multiSlot, createT0Card(), { slot: 2 });
    open.push(reader);
    sim.insertCard(createT1Card(), 4);
    expect(await reader.getSlotStatus(0)).toBe('absent');
    expect((await reader.powerOn(2)).protocol).toBe(0);
    expect((await reader.powerOn(4)).protocol).toBe(1);
    expect(hex(await reader.transmit(fromHex('0040 9000'), { slot: 2 }))).toBe('9000');
    expect(hex(await reader.transmit(fromHex('0040 6283'), { slot: 4 }))).toBe('6283');
    await expect(reader.transmit(fromHex('00A4040000'), { slot: 9 })).rejects.toBeInstanceOf(
      RangeError,
    );
  });
  it('abort signal ⇒ CCID_ABORTED', async () => {
    const ac = new AbortController();
    // The caller aborts once the card has the command (it never answers).
    const process = (): Promise<Uint8Array> => {
      ac.abort();
      return new Promise(() => undefined);
    };
    const { reader } = await setup(readerProfiles.shortApdu, createT0Card({ process }), {
      timeoutMs: 2000,
    });
    open.push(reader);
    await reader.powerOn();
    const p = reader.transmit(fromHex('00A4040000'), { signal: ac.signal });
    await expect(p).rejects.toMatchObject({ code: 'CCID_ABORTED' });
  });
  it('card that never answers ⇒ CCID_TIMEOUT, reader still usable', async () => {
    let hang = true;
    const { reader } = await setup(
      readerProfiles.shortApdu,
      createT0Card({ process: (a) => (hang ? new Promise(() => undefined) : loopbackAnswer(a)) }),
      { timeoutMs: 100 },
    );
    open.push(reader);
    await reader.powerOn();
    await expect(reader.transmit(fromHex('00A4040000'))).rejects.toMatchObject({
      code: 'CCID_TIMEOUT',
    });
    hang = false;
    expect(await reader.getSlotStatus()).toMatch(/active|inactive/);
  });
});

describe('more reader behaviour', () => {
  it('slots run concurrently up to bMaxCCIDBusySlots, beyond that CCID_BUSY', async () => {
    const conc = await setup(readerProfiles.multiSlotConcurrent, createT0Card(), { slot: 1 });
    open.push(conc.reader);
    conc.sim.insertCard(createT0Card(), 6);
    await conc.reader.powerOn(1);
    await conc.reader.powerOn(6);
    const cmd = fromHex('0020 0080 80');
    const [a, b] = await Promise.all([
      conc.reader.transmit(cmd, { slot: 1 }),
      conc.reader.transmit(cmd, { slot: 6 }),
    ]);
    expect([hex(a), hex(b)]).toEqual([hex(loopbackAnswer(cmd)), hex(loopbackAnswer(cmd))]);

    const one = await setup(readerProfiles.multiSlot, createT0Card(), { slot: 0 });
    open.push(one.reader);
    one.sim.insertCard(createT0Card(), 1);
    await one.reader.powerOn(0);
    await one.reader.powerOn(1);
    const first = one.reader.transmit(cmd, { slot: 0 });
    await expect(one.reader.transmit(cmd, { slot: 1 })).rejects.toMatchObject({
      code: 'CCID_BUSY',
    });
    expect(hex(await first)).toBe(hex(loopbackAnswer(cmd)));
  });
  it('HardwareError interrupt ⇒ hardware-error event', async () => {
    const { sim, reader } = await setup(readerProfiles.tpduT0, createT0Card());
    open.push(reader);
    const events: ReaderEvent[] = [];
    reader.onEvent((e) => events.push(e));
    sim.injectHardwareError(0, 1);
    await waitFor(() => events.some((e) => e.type === 'hardware-error'));
    expect(events.find((e) => e.type === 'hardware-error')).toEqual({
      type: 'hardware-error',
      slot: 0,
      code: 1,
    });
  });
  it('unsubscribe stops events', async () => {
    const { sim, reader } = await setup(readerProfiles.tpduT0, undefined);
    open.push(reader);
    const events: ReaderEvent[] = [];
    const off = reader.onEvent((e) => events.push(e));
    // A listener that stays: once it has the event, every listener has been called.
    const seen = new Promise<void>((resolve) => reader.onEvent(() => resolve()));
    off();
    sim.insertCard(createT0Card());
    await seen;
    expect(events).toEqual([]);
  });
  it('APDU longer than a short-APDU reader takes ⇒ CCID_APDU_TOO_LONG (nothing sent)', async () => {
    const { sim, reader } = await setup(readerProfiles.shortApdu, createT1Card());
    open.push(reader);
    await reader.powerOn();
    const before = sim.stats.bulkOut;
    const big = echoApdu(new Uint8Array(600), 65536);
    await expect(reader.transmit(big)).rejects.toMatchObject({ code: 'CCID_APDU_TOO_LONG' });
    expect(sim.stats.bulkOut).toBe(before);
    expect(hex(await reader.transmit(fromHex('00A4040000')))).toBe('9000');
  });
  it('extended APDUs both ways on an extended-APDU reader with a 271-byte message limit', async () => {
    const { reader } = await setup(readerProfiles.extendedApdu, createT1Card());
    open.push(reader);
    await reader.powerOn();
    const cmd = echoApdu(
      new Uint8Array(5000).map((_, i) => i * 3),
      65536,
    );
    expect(hex(await reader.transmit(cmd))).toBe(hex(loopbackAnswer(cmd)));
    const get = encodeApdu({ cla: 0, ins: 0x20, p1: 0xff, p2: 0xff, ne: 65536 });
    expect(hex(await reader.transmit(get))).toBe(hex(loopbackAnswer(get)));
  });
  it('CRC T=1 card, ISO 13239 variant when configured', async () => {
    const sim = new SimulatedReader({ profile: readerProfiles.tpduT1NoAuto });
    sim.insertCard(createT1Card({ edc: 'crc', crcVariant: 'iso13239' }));
    const reader = await openReader(sim.device, {
      isBrowserBlockingProtectedClasses: false,
      timeoutMs: 2000,
      t1CrcVariant: 'iso13239',
    });
    open.push(reader);
    await reader.powerOn();
    expect(hex(await reader.transmit(fromHex('0020 0040 40')))).toBe(
      hex(loopbackAnswer(fromHex('0020 0040 40'))),
    );
  });
  it('a reader that only sends time extensions ends in CCID_TIMEOUT', async () => {
    const sim = new SimulatedReader({ profile: readerProfiles.shortApdu });
    sim.insertCard(createT0Card({ timeExtensions: 50 }));
    const reader = await openReader(sim.device, {
      isBrowserBlockingProtectedClasses: false,
      timeoutMs: 2000,
      maxTimeExtensions: 5,
    });
    open.push(reader);
    await reader.powerOn();
    await expect(reader.transmit(fromHex('00A4040000'))).rejects.toMatchObject({
      code: 'CCID_TIMEOUT',
    });
  });
  it('not a CCID device ⇒ CCID_NOT_CCID; the device is closed again', async () => {
    // Configuration with one HID interface carrying a 9-byte type-0x21 descriptor.
    const cfg = Uint8Array.of(
      9,
      2,
      34,
      0,
      1,
      1,
      0,
      0x80,
      50,
      9,
      4,
      0,
      0,
      1,
      3,
      0,
      0,
      0,
      9,
      0x21,
      0x11,
      1,
      0,
      1,
      0x22,
      0x20,
      0,
      7,
      5,
      0x81,
      3,
      8,
      0,
      10,
    );
    const dev = descriptorDevice(cfg);
    await expect(openReader(dev)).rejects.toMatchObject({ code: 'CCID_NOT_CCID' });
    expect(dev.opened).toBe(false);
  });
});

describe('power-on details', () => {
  it.each([
    {
      name: 'voltage fallback 5 V → 1.8 V → 3 V on a reader without automatic voltage (ccid.md §6.3)',
      profile: readerProfiles.tpduT1NoAuto,
      card: () => createT0Card({ voltageClasses: 0x02 }), // class B (3 V) only
      powerSelects: [1, 3, 2],
    },
    {
      name: 'automatic voltage (0x08): one IccPowerOn with bPowerSelect 0',
      profile: readerProfiles.shortApdu,
      card: () => createT0Card(),
      powerSelects: [0],
    },
  ])('$name', async ({ profile, card, powerSelects }) => {
    const logs: CcidLogEntry[] = [];
    const sim = new SimulatedReader({ profile });
    sim.insertCard(card());
    const reader = await openReader(sim.device, {
      isBrowserBlockingProtectedClasses: false,
      timeoutMs: 2000,
      onLog: (e) => logs.push(e),
    });
    open.push(reader);
    await reader.powerOn();
    const selects = logs
      .filter((e) => e.kind === 'out' && e.bytes[0] === 0x62)
      .map((e) => (e.kind === 'out' ? e.bytes[7] : -1));
    expect(selects).toEqual(powerSelects);
    expect(hex(await reader.transmit(fromHex('00A4040000')))).toBe('9000');
  });
  it('card pulled and re-inserted between polls: "inactive" after our power-on ⇒ removed + inserted, then CCID_NOT_POWERED', async () => {
    const { sim, reader } = await setup(readerProfiles.noInterrupt, createT1Card());
    open.push(reader);
    await reader.powerOn();
    const events: ReaderEvent[] = [];
    reader.onEvent((e) => events.push(e));
    sim.removeCard();
    sim.insertCard(createT1Card());
    expect(await reader.getSlotStatus()).toBe('inactive'); // a running poll finishes first, no CCID_BUSY
    await waitFor(() => events.length >= 2);
    expect(events).toEqual([
      { type: 'card-removed', slot: 0 },
      { type: 'card-inserted', slot: 0 },
    ]);
    await expect(reader.transmit(fromHex('00A4040000'))).rejects.toMatchObject({
      code: 'CCID_NOT_POWERED',
    });
    expect((await reader.powerOn()).protocol).toBe(1);
    expect(hex(await reader.transmit(fromHex('00A4040000')))).toBe('9000');
  });
});

async function waitFor(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 5));
  }
}
