/**
 * Issue 11 §2 end to end: the driver (openReader → CcidReader → CcidTransport) against a replayed
 * reader whose answers are cut, dropped, duplicated or preceded by stale frames. Time is Vitest's
 * fake clock: a timeout is reached by advancing it, never by sleeping.
 */
import { loopbackAnswer } from '@cardlend/card-sim';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { encodeApdu, fromHex, isCcidError } from '../src/core/index.ts';
import type { CcidLogEntry, CcidReader } from '../src/webusb/index.ts';
import { openReader } from '../src/webusb/index.ts';
import { usbTransfer } from './core-fixtures.ts';
import { cardsFor, echoApdu, hex, profiles, settle, setup } from './helpers.ts';
import type { ReplayAnswer } from './replay-device.ts';
import { REPLAY_FCI, REPLAY_PACKET_BYTES, ReplayDevice, captureShape } from './replay-device.ts';

const SELECT = Uint8Array.of(0x00, 0xa4, 0x04, 0x00, 0x07, 0xa0, 0, 0, 0, 0x04, 0x10, 0x10);
const FCI_OK = hex(Uint8Array.of(...REPLAY_FCI, 0x90, 0x00));
const TIMEOUT_MS = 1000;

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date', 'performance'] });
});
afterEach(() => {
  vi.useRealTimers();
});

async function open(
  tamper: (a: ReplayAnswer) => Uint8Array[],
): Promise<{ sim: ReplayDevice; reader: CcidReader; log: CcidLogEntry[] }> {
  const sim = new ReplayDevice({ tamper });
  const log: CcidLogEntry[] = [];
  const reader = await settle(
    openReader(sim.device, {
      isBrowserBlockingProtectedClasses: false,
      timeoutMs: TIMEOUT_MS,
      onLog: (e) => log.push(e),
    }),
  );
  await settle(reader.powerOn());
  return { sim, reader, log };
}

const isGetResponseAnswer = (a: ReplayAnswer): boolean =>
  a.commandType === 0x6f && a.message.length === 46;

describe('regression: one answer cut short, then a timeout (issue 11 §2)', () => {
  it('ABORT gets its SlotStatus and the next APDU its own answer', async () => {
    let isCut = false;
    const { sim, reader, log } = await open((a) => {
      if (!isGetResponseAnswer(a) || isCut) return a.completions;
      isCut = true;
      return a.completions.slice(0, 1); // 32 of 46 bytes; the last 14 never come
    });
    await expect(settle(reader.transmit(SELECT))).rejects.toMatchObject({ code: 'CCID_TIMEOUT' });
    expect(sim.aborts).toHaveLength(1);
    const abortSeq = sim.aborts[0]!.seq;
    // The ABORT's SlotStatus (bSeq of the aborted command) was read, not swallowed.
    expect(log).toContainEqual({
      kind: 'in',
      bytes: expect.objectContaining({ 0: 0x81, 6: abortSeq }),
    });
    expect(log.some((e) => e.kind === 'note' && /Abort got no SlotStatus/.test(e.message))).toBe(
      false,
    );
    expect(hex(await settle(reader.transmit(SELECT)))).toBe(FCI_OK);
    expect(hex(await settle(reader.transmit(SELECT)))).toBe(FCI_OK);
    await reader.close();
  });
});

type Fault =
  | { kind: 'cut'; keep: number }
  | { kind: 'drop' | 'duplicate' | 'split' }
  | { kind: 'stale'; back: number };
const DESTRUCTIVE = new Set(['cut', 'drop']);

const faultArb: fc.Arbitrary<Fault | undefined> = fc.option(
  fc.oneof(
    fc.integer({ min: 0, max: 45 }).map((keep): Fault => ({ kind: 'cut', keep })),
    fc.constantFrom<Fault>({ kind: 'drop' }, { kind: 'duplicate' }, { kind: 'split' }),
    fc.integer({ min: 1, max: 5 }).map((back): Fault => ({ kind: 'stale', back })),
  ),
  { freq: 2 },
);

function apply(f: Fault, a: ReplayAnswer): Uint8Array[] {
  const m = a.message;
  switch (f.kind) {
    case 'cut':
      return captureShape(m.subarray(0, Math.min(f.keep, m.length - 1))).filter((c) => c.length);
    case 'drop':
      return [];
    case 'duplicate':
      return [...a.completions, ...a.completions];
    case 'split': // one packet per completion
      return usbTransfer(m, REPLAY_PACKET_BYTES, 1);
    case 'stale': {
      const old = m.slice();
      old[6] = (m[6]! - f.back) & 0xff;
      return [...captureShape(old), ...a.completions];
    }
  }
}

describe('property: after any fault the next APDU gets its own answer or a typed error', () => {
  it('random cuts, drops, duplicates, splits and stale frames on every answer after power-on', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(faultArb, { minLength: 4, maxLength: 24 }), async (faults) => {
        const loss = { isThisTransmit: false };
        const { reader } = await open((a) => {
          const f = a.index >= 3 ? faults[a.index - 3] : undefined; // 0-2: GetSlotStatus, IccPowerOn, SetParameters
          if (!f) return a.completions;
          if (DESTRUCTIVE.has(f.kind)) loss.isThisTransmit = true;
          return apply(f, a);
        });
        try {
          for (let i = 0; i < 6; i++) {
            loss.isThisTransmit = false;
            let r: Uint8Array | unknown;
            try {
              r = await settle(reader.transmit(SELECT));
            } catch (e) {
              r = e;
            }
            if (r instanceof Uint8Array) expect(hex(r)).toBe(FCI_OK);
            else {
              expect(isCcidError(r), String(r)).toBe(true);
              // Only a lost answer of this very APDU may fail it: earlier faults leave no trace.
              expect(loss.isThisTransmit, (r as Error).message).toBe(true);
            }
          }
        } finally {
          await reader.close();
        }
      }),
      { numRuns: 150 },
    );
  });
});

/** Loopback applet commands (card-sim `loopbackAnswer`) every profile carries (as in driver.test.ts). */
const APDUS = [
  encodeApdu({ cla: 0, ins: 0xa4, p1: 4, p2: 0, data: fromHex('A000000308') }),
  encodeApdu({ cla: 0, ins: 0x20, p1: 0, p2: 200, ne: 256 }),
  echoApdu(new Uint8Array(100).fill(0x5a), 256),
  encodeApdu({ cla: 0, ins: 0x40, p1: 0x6a, p2: 0x82 }),
];

async function outcome<T>(p: Promise<T>): Promise<T | Error> {
  try {
    return await settle(p);
  } catch (e) {
    expect(isCcidError(e), String(e)).toBe(true);
    return e as Error;
  }
}

describe('every card-sim profile: one DataBlock cut at any point costs at most that exchange', () => {
  // card-sim's cutAnswer fault: the n-th DataBlock (IccPowerOn, PPS, S-blocks and APDU answers
  // counted) keeps only its first bytes; the rest never comes.
  const cuts = [0, 1, 2, 3, 4, 5, 6, 7].flatMap((after) =>
    [undefined, 1, 10, 16, 32].map((keepBytes) => ({ after, keepBytes })),
  );
  for (const profile of profiles)
    for (const c of cardsFor(profile))
      it(`${profile.id} ${c.name}`, async () => {
        for (const { after, keepBytes } of cuts) {
          const cutAnswer = keepBytes === undefined ? { after } : { after, keepBytes };
          const { sim, reader } = await settle(
            setup(profile, c.make(), { faults: { cutAnswer }, timeoutMs: TIMEOUT_MS }),
          );
          try {
            // A cut power-up answer fails powerOn with a typed error; the next one works.
            if ((await outcome(reader.powerOn())) instanceof Error) await settle(reader.powerOn());
            const failed: number[] = [];
            for (const [i, apdu] of APDUS.entries()) {
              const r = await outcome(reader.transmit(apdu));
              if (r instanceof Error) failed.push(i);
              else
                expect(hex(r), `cut ${JSON.stringify(cutAnswer)}`).toBe(hex(loopbackAnswer(apdu)));
            }
            expect(failed.length, `cut ${JSON.stringify(cutAnswer)}`).toBeLessThanOrEqual(1);
            expect(sim.faults.firedCounts.cutAnswer ?? 0).toBeLessThanOrEqual(1);
          } finally {
            await reader.close();
          }
        }
      });
});
