import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hexToBytes } from '../src/bytes.ts';
import { readerProfiles } from '../src/profiles.ts';
import { SimulatedReader } from '../src/simulated-reader.ts';
import { T1CardEngine, withEdc } from '../src/t1-card.ts';
import { createT0Card, createT1Card, loopbackAnswer } from '../src/virtual-card.ts';
import { encodeCommand, MiniHost } from './helpers/mini-host.ts';

const profiles = Object.values(readerProfiles);

describe('robustness', () => {
  it('garbage on bulk-OUT never throws; after a USB reset the reader answers again', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...profiles),
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 80 }), { maxLength: 6 }),
        async (profile, chunks) => {
          const reader = new SimulatedReader({ profile });
          reader.insertCard(profile.protocols & 1 ? createT0Card() : createT1Card());
          const host = new MiniHost(reader);
          await host.open();
          for (const c of chunks) {
            const r = await reader.device.transferOut(1, c);
            expect(r.status).toBe('ok');
          }
          await reader.device.reset();
          // drain whatever answers the garbage produced, then a clean command works
          await host.write(encodeCommand(0x65, { seq: 0xaa }));
          for (let i = 0; i < 20; i++) {
            const r = await host.read();
            if (r.seq === 0xaa && r.type === 0x81) return;
          }
          throw new Error('no answer after reset');
        },
      ),
      { numRuns: 60 },
    );
  });

  it('the card T=1 engine answers any block with a well-formed block', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 8 }),
        fc.boolean(),
        async (blocks, withValidEdc) => {
          const engine = new T1CardEngine({ ifsc: 32, edc: 'lrc', app: loopbackAnswer });
          for (const b of blocks) {
            const input =
              withValidEdc && b.length >= 3
                ? withEdc(b.subarray(0, 3 + Math.min(b[2]! % 40, b.length - 3)), 'lrc')
                : b;
            const out = await engine.receive(input);
            expect(out.length).toBeGreaterThanOrEqual(4);
            expect(out[2]).toBe(out.length - 4);
            let x = 0;
            for (const v of out) x ^= v;
            expect(x).toBe(0);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('random short APDUs over every APDU-level profile return the card answer', async () => {
    const apduProfiles = profiles.filter((p) => (p.features & 0x00060000) !== 0);
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...apduProfiles),
        fc.boolean(),
        fc.uint8Array({ maxLength: 200 }),
        fc.integer({ min: 1, max: 200 }),
        async (profile, useT1, data, ne) => {
          const reader = new SimulatedReader({ profile });
          const t1 = useT1 || !(profile.protocols & 1);
          reader.insertCard(t1 ? createT1Card() : createT0Card());
          const host = new MiniHost(reader);
          await host.open();
          await host.powerOn();
          // A T=0 card never sees Le (case 4 goes as case 3), so it cannot truncate to Ne.
          const le = t1 ? ne : Math.max(ne, data.length);
          const apdu = Uint8Array.of(
            0x00,
            0x30,
            0x00,
            0x00,
            ...(data.length ? [data.length, ...data] : []),
            le,
          );
          const r = await host.xfr(apdu);
          if (profile.apduT0Handling === 'passthrough' && !t1 && data.length > 0) {
            // the reader hands 61xx back: fetch like a host would
            expect(r.data[0]).toBe(0x61);
            const rest = await host.xfr(Uint8Array.of(0, 0xc0, 0, 0, r.data[1]!));
            expect(Array.from(rest.data)).toEqual(Array.from(loopbackAnswer(apdu)));
          } else {
            expect(Array.from(r.data)).toEqual(Array.from(loopbackAnswer(apdu)));
          }
        },
      ),
      { numRuns: 80 },
    );
  });
});

describe('demo environment', () => {
  it('a page can pick the vendor-class reader and read the PIV card ATR', async () => {
    const { createDemoEnvironment } = await import('../src/demo.ts');
    const env = await createDemoEnvironment();
    const device = await env.usb.requestDevice({
      filters: [{ classCode: 0x0b }, { classCode: 0xff }],
    });
    expect(device).toBe(env.reader.device);
    const host = new MiniHost(env.reader);
    await host.open();
    const atr = await host.powerOn();
    expect(Array.from(atr.data)).toEqual(Array.from(env.card.atr));
    // TPDU reader + T=0: the host sends case 4 as case 3 and gets 61xx
    const sel = await host.xfr(hexToBytes('00 A4 04 00 09 A0 00 00 03 08 00 00 10 00'));
    expect(sel.status).toBe(0);
    expect(sel.data[0]).toBe(0x61);
  }, 30_000);
});
