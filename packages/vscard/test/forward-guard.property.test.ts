/**
 * The forward guard's safety claim, proven on the QEMU model (issue 11 §1): over random browser
 * frames (valid, oversized, out of turn, floods), random read boundaries (1–4 096 bytes ending
 * anywhere), random guest commands (pipelined up to 127) and random delivery of QEMU's replies,
 * nothing the guard forwards can leave QEMU unable to read. Without the guard the same search
 * finds a wedge, so the property has teeth.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { VSC, encodeMessage, type ForwardGuardOptions } from '../src/index.ts';
import { GuardWorld } from './guard-world.ts';

const VALID_ATR = Uint8Array.of(0x3b, 0x02, 0x41, 0x42);

/** What the browser tries to send. */
type FrameSpec =
  | { kind: 'answer'; length: number }
  | { kind: 'error' }
  | { kind: 'control'; type: number }
  | { kind: 'atr'; isValid: boolean; length: number }
  | { kind: 'raw'; type: number; length: number };

const arbLength = fc.oneof(
  { arbitrary: fc.integer({ min: 0, max: 374 }), weight: 4 },
  { arbitrary: fc.constant(374), weight: 8 },
  { arbitrary: fc.integer({ min: 375, max: 65524 }), weight: 1 },
  { arbitrary: fc.constant(65524), weight: 1 },
);

const arbFrame: fc.Arbitrary<FrameSpec> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant('answer' as const), length: arbLength }), weight: 8 },
  { arbitrary: fc.constant({ kind: 'error' as const }), weight: 2 },
  { arbitrary: fc.constant({ kind: 'atr' as const, isValid: true, length: 4 }), weight: 2 },
  {
    arbitrary: fc.record({
      kind: fc.constant('control' as const),
      type: fc.constantFrom(VSC.Init, VSC.ReaderAdd, VSC.CardRemove, VSC.ReaderRemove),
    }),
    weight: 3,
  },
  {
    arbitrary: fc.record({
      kind: fc.constant('atr' as const),
      isValid: fc.boolean(),
      length: fc.integer({ min: 0, max: 64 }),
    }),
    weight: 2,
  },
  {
    arbitrary: fc.record({
      kind: fc.constant('raw' as const),
      type: fc.integer({ min: 1, max: 7 }),
      length: arbLength,
    }),
    weight: 2,
  },
);

type Step =
  | { kind: 'browser'; frame: FrameSpec; burst: number }
  | { kind: 'read'; size: number }
  | { kind: 'guest'; length: number; burst: number }
  | { kind: 'deliver'; count: number };

const arbStep: fc.Arbitrary<Step> = fc.oneof(
  {
    arbitrary: fc.record({
      kind: fc.constant('browser' as const),
      frame: arbFrame,
      burst: fc.oneof(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 130 })),
    }),
    weight: 6,
  },
  {
    arbitrary: fc.record({
      kind: fc.constant('read' as const),
      size: fc.oneof(fc.integer({ min: 1, max: 4096 }), fc.constant(4096)),
    }),
    weight: 6,
  },
  {
    arbitrary: fc.record({
      kind: fc.constant('guest' as const),
      length: fc.integer({ min: 1, max: 300 }),
      burst: fc.oneof(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 127 })),
    }),
    weight: 3,
  },
  {
    arbitrary: fc.record({
      kind: fc.constant('deliver' as const),
      count: fc.oneof(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 200 })),
    }),
    weight: 5,
  },
);

function frameBytes(f: FrameSpec): Uint8Array {
  const filled = (type: number, length: number): Uint8Array => {
    const b = new Uint8Array(12 + length).fill(0x90, 12);
    const v = new DataView(b.buffer);
    v.setUint32(0, type);
    v.setUint32(8, length);
    return b;
  };
  switch (f.kind) {
    case 'answer':
      return filled(VSC.APDU, f.length);
    case 'error':
      return encodeMessage({ type: 'Error', readerId: 0, code: 1 });
    case 'control':
      if (f.type === VSC.Init) return filled(VSC.Init, 12).fill(0, 12);
      return filled(f.type, 0);
    case 'atr':
      return f.isValid
        ? encodeMessage({ type: 'ATR', readerId: 0, atr: VALID_ATR })
        : filled(VSC.ATR, f.length);
    case 'raw':
      return filled(f.type, f.length);
  }
}

/** Runs a schedule; returns a description of the first wedge, or undefined. */
function run(world: GuardWorld, steps: Step[]): string | undefined {
  const check = (where: string): string | undefined => {
    if (world.qemu.input.status !== 'ok') return `${world.qemu.input.status} after ${where}`;
    if (world.guard && world.bytesTowardsQemu > world.guard.unprovenBytes) {
      return `QEMU holds ${world.bytesTowardsQemu} bytes, guard counts ${world.guard.unprovenBytes}`;
    }
    return undefined;
  };
  // A session starts as the page does: ReaderAdd, then a card.
  for (const step of steps) {
    let problem: string | undefined;
    switch (step.kind) {
      case 'browser':
        for (let i = 0; i < step.burst && !problem; i++) {
          world.send(frameBytes(step.frame));
          problem = check('send');
        }
        break;
      case 'read':
        world.read(step.size);
        problem = check('read');
        break;
      case 'guest':
        for (let i = 0; i < step.burst; i++) world.guestCommand(step.length);
        break;
      case 'deliver':
        for (let i = 0; i < step.count && !problem; i++) {
          world.deliver();
          problem = check('deliver');
        }
        break;
    }
    if (problem) return problem;
  }
  world.drain();
  const end = check('drain');
  if (end) return end;
  const { pos, hdr } = world.qemu.input.registers;
  return pos === 0 && hdr === 0 ? undefined : `not drained: pos ${pos}, hdr ${hdr}`;
}

/** Start with a card present (ATR accepted), so guest commands reach the relay. */
function withCard(opts: ForwardGuardOptions | 'none'): GuardWorld {
  const w = new GuardWorld(opts);
  w.send(encodeMessage({ type: 'ATR', readerId: 0, atr: VALID_ATR }));
  w.drain();
  return w;
}

const arbSchedule = fc.array(arbStep, { minLength: 1, maxLength: 300, size: 'max' });

describe('ForwardGuard on the QEMU model (property)', () => {
  it.each<[string, ForwardGuardOptions]>([
    ['default options', {}],
    ['probing late (budget refusals do the work)', { probeThresholdBytes: 65000 }],
    ['probing after every message', { probeThresholdBytes: 0 }],
    ['answers up to 60 000 bytes (only the budget stops creep)', { maxAnswerBytes: 60000 }],
  ])(
    'nothing forwarded wedges QEMU, whatever the reads end on (%s)',
    (_name, opts) => {
      const seen = { refusals: 0, forwarded: 0, probes: 0, guestAnswers: 0, maxUnproven: 0 };
      const rules = new Map<string, number>();
      fc.assert(
        fc.property(arbSchedule, (steps) => {
          const w = withCard(opts);
          expect(run(w, steps)).toBeUndefined();
          seen.refusals += w.refusals;
          seen.forwarded += w.forwarded;
          seen.probes += w.probes;
          seen.guestAnswers += w.guestAnswers;
          seen.maxUnproven = Math.max(seen.maxUnproven, w.maxUnproven);
          for (const [rule, n] of w.refusedBy) rules.set(rule, (rules.get(rule) ?? 0) + n);
        }),
        { numRuns: 400 },
      );
      // The search really exercised every rule, and filled the budget to the brim.
      expect(seen.forwarded).toBeGreaterThan(5000);
      expect(seen.guestAnswers).toBeGreaterThan(5000);
      expect(seen.maxUnproven).toBeGreaterThan(60000);
      for (const rule of [
        'too-long',
        'answer-without-command',
        'control-in-flight',
        'input-budget',
      ])
        expect(rules.get(rule), rule).toBeGreaterThan(0);
      if (opts.probeThresholdBytes !== 65000) expect(seen.probes).toBeGreaterThan(100);
    },
    60_000,
  );

  it('without the guard the same search wedges QEMU (the property has teeth)', () => {
    const result = fc.check(
      fc.property(arbSchedule, (steps) => run(withCard('none'), steps) === undefined),
      // No shrinking: finding one wedge is the point.
      { numRuns: 400, endOnFailure: true },
    );
    expect(result.failed).toBe(true);
  }, 60_000);
});
