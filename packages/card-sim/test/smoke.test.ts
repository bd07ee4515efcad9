import { describe, expect, it } from 'vitest';
import { bytesToHex, hexToBytes } from '../src/bytes.ts';
import { lrc } from '../src/t1-card.ts';
import { readerProfiles } from '../src/profiles.ts';
import { SimulatedReader } from '../src/simulated-reader.ts';
import { createT0Card, createT1Card, loopbackAnswer } from '../src/virtual-card.ts';
import { MiniHost } from './helpers/mini-host.ts';

describe('smoke', () => {
  it('short APDU reader with a T=0 card', async () => {
    const reader = new SimulatedReader({ profile: readerProfiles.shortApdu });
    reader.insertCard(createT0Card());
    const host = new MiniHost(reader);
    await host.open();
    const atr = await host.powerOn();
    expect(atr.status).toBe(0);
    expect(bytesToHex(atr.data)).toBe(bytesToHex(createT0Card().atr));
    const apdu = hexToBytes('00 20 00 30 20');
    const r = await host.xfr(apdu);
    expect(bytesToHex(r.data)).toBe(bytesToHex(loopbackAnswer(apdu)));
  });
  it('TPDU T=1', async () => {
    const reader = new SimulatedReader({ profile: readerProfiles.tpduT1NoAuto });
    reader.insertCard(createT1Card());
    const host = new MiniHost(reader);
    await host.open();
    await host.powerOn();
    const sp = await host.command(0x61, { b7: 1, data: hexToBytes('11 10 00 45 00 20 00') });
    expect(sp.status).toBe(0);
    const r = await host.xfr(hexToBytes('00 00 05 00 20 00 04 04 25'));
    const inf = loopbackAnswer(hexToBytes('00 20 00 04 04'));
    const body = Uint8Array.of(0x00, 0x00, inf.length, ...inf);
    expect(bytesToHex(r.data)).toBe(bytesToHex(Uint8Array.of(...body, lrc(body))));
  });
});
