import type { ReaderProfile } from '@cardlend/card-sim';
import { SimulatedReader, createT0Card, createT1Card, readerProfiles } from '@cardlend/card-sim';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeApdu } from '../src/core/index.ts';
import type { CcidReader, OpenReaderOptions } from '../src/webusb/index.ts';
import { openReader } from '../src/webusb/index.ts';
import { hex } from './helpers.ts';

const open: CcidReader[] = [];
afterEach(async () => {
  for (const r of open.splice(0)) await r.close();
});

/** A card application that records the command APDUs it receives and answers 90 00. */
function recorder(): { seen: Uint8Array[]; process: (apdu: Uint8Array) => Uint8Array } {
  const seen: Uint8Array[] = [];
  return {
    seen,
    process: (apdu) => {
      seen.push(apdu.slice());
      return Uint8Array.of(0x90, 0x00);
    },
  };
}

/** OpenSC PIV GENERAL AUTHENTICATE chunk: chained CLA 0x10, Lc 255 (a 260-byte case 3 APDU). */
function generalAuthenticateChunk(): Uint8Array {
  const data = Uint8Array.from({ length: 255 }, (_, i) => (i * 13 + 1) & 0xff);
  return encodeApdu({ cla: 0x10, ins: 0x87, p1: 0x07, p2: 0x9a, data });
}

async function openSim(
  profile: ReaderProfile,
  card: Parameters<SimulatedReader['insertCard']>[0],
  opts: OpenReaderOptions = {},
): Promise<{ sim: SimulatedReader; reader: CcidReader }> {
  const sim = new SimulatedReader({ profile });
  sim.insertCard(card);
  const reader = await openReader(sim.device, {
    isBrowserBlockingProtectedClasses: false,
    timeoutMs: 2000,
    powerOnTimeoutMs: 2000,
    ...opts,
  });
  open.push(reader);
  return { sim, reader };
}

describe('libccid BOGUS_SCM_FIRMWARE_FOR_dwMaxCCIDMessageLength (announced 263, takes 271)', () => {
  it('a 260-byte T=0 TPDU goes through on the SCM SCR331-DI profile', async () => {
    expect(readerProfiles.vendorClass.maxMessageLength).toBe(263);
    const app = recorder();
    const { reader } = await openSim(readerProfiles.vendorClass, createT0Card(app));
    expect((await reader.powerOn()).protocol).toBe(0);
    const cmd = generalAuthenticateChunk();
    expect(cmd.length).toBe(260);
    expect(hex(await reader.transmit(cmd))).toBe('9000');
    expect(app.seen.map(hex)).toEqual([hex(cmd)]);
  });

  it('the quirk keys on 263 only: a TPDU reader announcing 264 keeps its limit', async () => {
    const profile = { ...readerProfiles.tpduT0, protocols: 0x01, maxMessageLength: 264 };
    const { sim, reader } = await openSim(profile, createT0Card());
    await reader.powerOn();
    const before = sim.stats.bulkOut;
    await expect(reader.transmit(generalAuthenticateChunk())).rejects.toMatchObject({
      code: 'CCID_APDU_TOO_LONG',
    });
    expect(sim.stats.bulkOut).toBe(before);
  });
});

describe('protocol choice on a TPDU reader too small for a maximal T=0 TPDU', () => {
  // 264 - 10 = 254 < 5 + 255: T=0 cannot carry a 255-byte command, T=1 chains it by IFSC.
  const small: ReaderProfile = { ...readerProfiles.tpduT0, maxMessageLength: 264 };

  it('prefers T=1 when the card offers T=0 (default) and T=1; the 255-byte chunk goes through', async () => {
    const app = recorder();
    const card = createT1Card({ alsoT0: true, t0First: true, process: app.process });
    expect(card.protocols[0]).toBe(0);
    const { reader } = await openSim(small, card);
    const p = await reader.powerOn();
    expect(p.atrInfo.defaultProtocol).toBe(0);
    expect(p.protocol).toBe(1);
    const cmd = generalAuthenticateChunk();
    expect(hex(await reader.transmit(cmd))).toBe('9000');
    expect(app.seen.map(hex)).toEqual([hex(cmd)]);
  });

  it('with IFSC 254, host I-blocks stay within the reader limit (shorter chained blocks)', async () => {
    const app = recorder();
    const card = createT1Card({ alsoT0: true, t0First: true, ifsc: 254, process: app.process });
    const { sim, reader } = await openSim(small, card);
    expect((await reader.powerOn()).protocol).toBe(1);
    const before = sim.stats.bulkOut;
    const cmd = generalAuthenticateChunk();
    expect(hex(await reader.transmit(cmd))).toBe('9000');
    expect(app.seen.map(hex)).toEqual([hex(cmd)]);
    expect(sim.stats.bulkOut - before).toBeGreaterThanOrEqual(2); // chained: 2 I-blocks at least
  });

  it('keeps the caller’s preferredProtocol', async () => {
    const card = createT1Card({ alsoT0: true, t0First: true });
    const { reader } = await openSim(small, card, { preferredProtocol: 0 });
    expect((await reader.powerOn()).protocol).toBe(0);
  });

  it('keeps the card default on a reader that carries a maximal TPDU', async () => {
    const card = createT1Card({ alsoT0: true, t0First: true });
    const { reader } = await openSim(readerProfiles.tpduT0, card);
    expect(readerProfiles.tpduT0.maxMessageLength).toBeGreaterThanOrEqual(270);
    expect((await reader.powerOn()).protocol).toBe(0);
  });
});
