/**
 * Property tests over every card-sim reader profile (issue 3 "Proof"): random APDUs return exactly
 * the card's answer; random fault schedules end in the right answer or a CcidError, never a hang.
 */
import type { FaultPlan, ReaderProfile } from '@cardlend/card-sim';
import { loopbackAnswer } from '@cardlend/card-sim';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { encodeApdu, exchangeLevelOf, isCcidError } from '../src/core/index.ts';
import { cardsFor, hex, profiles, settle, setup } from './helpers.ts';

/** What APDUs a profile/protocol pair can carry (ccid.md §11). */
function limitsOf(
  profile: ReaderProfile,
  protocol: 0 | 1,
): { isExtendedAllowed: boolean; maxData: number } {
  const level = exchangeLevelOf(profile.features);
  // T=0 carries extended APDUs only with ENVELOPE, which neither the driver nor the test cards do.
  if (protocol === 0)
    return {
      isExtendedAllowed: false,
      maxData: Math.min(255, profile.maxMessageLength - 10 - (level === 'tpdu' ? 5 : 6)),
    };
  if (level === 'extended-apdu' || level === 'tpdu')
    return { isExtendedAllowed: true, maxData: 65535 };
  // short APDU level: the whole APDU must fit one message.
  return { isExtendedAllowed: false, maxData: Math.min(255, profile.maxMessageLength - 10 - 6) };
}

/** Loopback applet commands (card-sim `loopbackAnswer`) with random sizes; ECHO's Ne never truncates (see t0.ts on case 4 over T=0). */
function apduArb(
  limits: { isExtendedAllowed: boolean; maxData: number },
  maxAnswer: number,
): fc.Arbitrary<Uint8Array> {
  const size = (max: number): fc.Arbitrary<number> =>
    fc.oneof(
      { weight: 4, arbitrary: fc.integer({ min: 0, max: Math.min(max, 300) }) },
      { weight: 1, arbitrary: fc.integer({ min: 0, max }) },
    );
  const maxNe = limits.isExtendedAllowed ? 65536 : 256;
  return fc.oneof(
    // ECHO (case 3/4)
    fc
      .tuple(
        size(Math.min(limits.maxData, maxAnswer)).filter((n) => n > 0),
        fc.boolean(),
        fc.integer({ min: 0, max: 255 }),
      )
      .map(([n, hasLe, fill]) => {
        const data = new Uint8Array(n).map((_, i) => (i + fill) & 0xff);
        const isExt = limits.isExtendedAllowed && n > 255;
        return encodeApdu({
          cla: 0,
          ins: 0x30,
          p1: 0,
          p2: 0,
          data,
          ...(hasLe ? { ne: isExt || n > 256 ? 65536 : 256 } : {}),
          isExtended: isExt,
        });
      }),
    // GET (case 2): P1P2 bytes, Le
    fc
      .tuple(size(Math.min(maxAnswer, 65535)), fc.integer({ min: 1, max: maxNe }))
      .map(([n, ne]) => encodeApdu({ cla: 0, ins: 0x20, p1: n >> 8, p2: n & 0xff, ne })),
    // STATUS: any SW, case 1
    fc
      .integer({ min: 0x6200, max: 0x6fff })
      .filter((sw) => sw >> 8 !== 0x61 && sw >> 8 !== 0x6c)
      .map((sw) => encodeApdu({ cla: 0, ins: 0x40, p1: sw >> 8, p2: sw & 0xff })),
  );
}

describe('property: random APDUs return exactly the card answer (every profile × protocol)', () => {
  for (const profile of profiles) {
    for (const c of cardsFor(profile)) {
      it(`${profile.id} ${c.name}`, async () => {
        const limits = limitsOf(profile, c.protocol);
        // Answer size the path can carry back: T=0 TPDU/short APDU levels return ≤ 256 data bytes per command and chain with 61xx.
        const maxAnswer = limits.isExtendedAllowed ? 65535 : 256;
        const { reader } = await setup(profile, c.make(), { timeoutMs: 2000 });
        try {
          await reader.powerOn();
          await fc.assert(
            fc.asyncProperty(apduArb(limits, maxAnswer), async (apdu) => {
              const got = await reader.transmit(apdu);
              expect(hex(got)).toBe(hex(loopbackAnswer(apdu)));
            }),
            { numRuns: 25 },
          );
        } finally {
          await reader.close();
        }
      });
    }
  }
});

const BENIGN = [
  'corruptT1Block',
  'bulkInStall',
  'bulkOutStall',
  'strayZlp',
  'slowReader',
  'splitTransfers',
] as const;
const DESTRUCTIVE = ['cardPulledMidApdu', 'unplugMidTransfer', 'cutAnswer'] as const;
type FaultKey = (typeof BENIGN)[number] | (typeof DESTRUCTIVE)[number];

const planArb: fc.Arbitrary<{ plan: FaultPlan; isBenign: boolean }> = fc
  .tuple(
    fc.subarray([...BENIGN, ...DESTRUCTIVE] as FaultKey[], { minLength: 1, maxLength: 4 }),
    fc.integer({ min: 1, max: 1000 }),
    fc.integer({ min: 0, max: 6 }),
    fc.integer({ min: 1, max: 3 }),
    fc.boolean(),
    fc.integer({ min: 1, max: 4 }),
  )
  .map(([names, seed, after, count, stale, mult]) => {
    const plan: Record<string, unknown> = { seed, staleFrameAtOpen: stale };
    for (const n of names)
      plan[n] =
        n === 'slowReader'
          ? { after, count, timeExtensions: 3, multiplier: mult, intervalMs: 5 }
          : n === 'cutAnswer'
            ? { after, count, probability: 0.7, keepBytes: after * 7 }
            : { after, count, probability: 0.7 };
    return {
      plan: plan as FaultPlan,
      isBenign: names.every((n) => (BENIGN as readonly string[]).includes(n)),
    };
  });

describe('property: random fault schedules end in the right answer or a CcidError, never a hang', () => {
  // Timeouts (cut answers) and slow readers run on the fake clock: deterministic and fast.
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date', 'performance'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });
  for (const profile of profiles) {
    for (const c of cardsFor(profile)) {
      it(`${profile.id} ${c.name}`, async () => {
        const limits = limitsOf(profile, c.protocol);
        await fc.assert(
          fc.asyncProperty(
            planArb,
            fc.array(apduArb({ ...limits, maxData: Math.min(limits.maxData, 600) }, 600), {
              minLength: 1,
              maxLength: 4,
            }),
            async ({ plan, isBenign }, apdus) => {
              // A hang (pending with no timer left) comes back as a non-CcidError and fails below.
              const outcome = await run(profile, c.make, plan, apdus);
              for (const [i, r] of outcome.entries()) {
                if (r instanceof Uint8Array) expect(hex(r)).toBe(hex(loopbackAnswer(apdus[i]!)));
                else {
                  expect(isCcidError(r), String(r)).toBe(true);
                  // Faults that a correct driver recovers from must not surface as errors.
                  if (isBenign)
                    expect.fail(`benign plan ${JSON.stringify(plan)} gave ${(r as Error).message}`);
                }
              }
            },
          ),
          { numRuns: 12 },
        );
      }, 60_000);
    }
  }
});

async function run(
  profile: ReaderProfile,
  make: () => ReturnType<ReturnType<typeof cardsFor>[number]['make']>,
  plan: FaultPlan,
  apdus: Uint8Array[],
): Promise<(Uint8Array | unknown)[]> {
  const results: (Uint8Array | unknown)[] = [];
  let reader;
  try {
    // 1 s of fake time: machine load cannot turn a benign fault into CCID_TIMEOUT.
    ({ reader } = await settle(setup(profile, make(), { faults: plan, timeoutMs: 1000 })));
  } catch (e) {
    return apdus.map(() => e);
  }
  try {
    try {
      await settle(reader.powerOn());
    } catch (e) {
      return apdus.map(() => e);
    }
    for (const a of apdus) {
      try {
        results.push(await settle(reader.transmit(a)));
      } catch (e) {
        results.push(e);
      }
    }
  } finally {
    await reader.close();
  }
  return results;
}
