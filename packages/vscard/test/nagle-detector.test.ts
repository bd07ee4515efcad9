import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { describeNagleReport, encodeMessage, NagleDetector, VscardFramer } from '../src/index.ts';
import type { NagleFinding } from '../src/index.ts';

/** A guest command as QEMU sends it: header + payload. */
function guestCommand(apdu: number[]): Uint8Array {
  return encodeMessage({ type: 'APDU', readerId: 0, apdu: new Uint8Array(apdu) });
}

const SELECT = guestCommand([0x00, 0xa4, 0x04, 0x00, 0x02, 0x3f, 0x00]);
const ERROR_ACK = encodeMessage({ type: 'Error', readerId: 0, code: 0 });
const CARD_REMOVE = encodeMessage({ type: 'CardRemove', readerId: 0 });

/** Timed chunks: [ms, bytes]. */
type Timed = readonly [number, Uint8Array];

/** QEMU without nodelay: header at t, payload at t + gap. */
function nagled(msg: Uint8Array, t: number, gap: number): Timed[] {
  return [
    [t, msg.subarray(0, 12)],
    [t + gap, msg.subarray(12)],
  ];
}

function feed(d: NagleDetector, chunks: readonly Timed[]): NagleFinding[] {
  const findings: NagleFinding[] = [];
  for (const [t, bytes] of chunks) {
    const f = d.push(bytes, t);
    if (f) findings.push(f);
  }
  return findings;
}

describe('NagleDetector: table', () => {
  const cases: {
    name: string;
    chunks: () => Timed[];
    suspected: boolean;
    messages: number;
    stalls: number;
    typicalStallMs?: number;
  }[] = [
    {
      name: 'nodelay=on: header and payload in one chunk, 20 commands',
      chunks: () => Array.from({ length: 20 }, (_, k): Timed => [k * 5, SELECT]),
      suspected: false,
      messages: 20,
      stalls: 0,
    },
    {
      name: 'nodelay=on: payload 0.1 ms after its header',
      chunks: () => Array.from({ length: 20 }, (_, k) => nagled(SELECT, k * 5, 0.1)).flat(),
      suspected: false,
      messages: 20,
      stalls: 0,
    },
    {
      name: 'no nodelay: every payload 40 ms after its header',
      chunks: () => Array.from({ length: 5 }, (_, k) => nagled(SELECT, k * 100, 40)).flat(),
      suspected: true,
      messages: 5,
      stalls: 5,
      typicalStallMs: 40,
    },
    {
      name: 'two stalls only: not yet a pattern',
      chunks: () => [...nagled(SELECT, 0, 40), ...nagled(SELECT, 100, 41)],
      suspected: false,
      messages: 2,
      stalls: 2,
    },
    {
      name: 'acks (4-byte payload) stall too; CardRemove without payload is not judged',
      chunks: () => [
        ...nagled(ERROR_ACK, 0, 44),
        [50, CARD_REMOVE],
        ...nagled(ERROR_ACK, 100, 44),
        ...nagled(ERROR_ACK, 200, 44),
      ],
      suspected: true,
      messages: 3,
      stalls: 3,
      typicalStallMs: 44,
    },
    {
      name: 'a one-off pause of 2 s is not Nagle',
      chunks: () => Array.from({ length: 5 }, (_, k) => nagled(SELECT, k * 3000, 2000)).flat(),
      suspected: false,
      messages: 5,
      stalls: 0,
    },
    {
      name: 'rare stalls among many quick messages stay below the share',
      chunks: () =>
        Array.from({ length: 16 }, (_, k) => nagled(SELECT, k * 100, k % 4 === 0 ? 40 : 0)).flat(),
      suspected: false,
      messages: 16,
      stalls: 4,
    },
    {
      name: 'two messages in one chunk, the second header cut: only its payload stalls',
      chunks: () => {
        const two = new Uint8Array([...SELECT, ...SELECT]);
        const cut = SELECT.length + 12;
        return [0, 100, 200].flatMap((t): Timed[] => [
          [t, two.subarray(0, cut)],
          [t + 40, two.subarray(cut)],
        ]);
      },
      suspected: true,
      messages: 6,
      stalls: 3,
      typicalStallMs: 40,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const d = new NagleDetector();
      feed(d, c.chunks());
      const r = d.report();
      expect(r.suspected).toBe(c.suspected);
      expect(r.messages).toBe(c.messages);
      expect(r.stalls).toBe(c.stalls);
      if (c.typicalStallMs !== undefined) expect(r.typicalStallMs).toBe(c.typicalStallMs);
    });
  }

  it('reports the change once: suspected after the 3rd stall, cleared when quick again', () => {
    const d = new NagleDetector({ windowMessages: 4, minStalls: 3, minStallShare: 0.75 });
    const slow = Array.from({ length: 4 }, (_, k) => nagled(SELECT, k * 100, 40)).flat();
    const findings = feed(d, slow);
    expect(findings.map((f) => f.kind)).toEqual(['nagle-suspected']);
    expect(findings[0]?.report).toMatchObject({ windowStalls: 3, messages: 3, confidence: 1 });
    const quick = Array.from({ length: 4 }, (_, k): Timed => [1000 + k, SELECT]);
    const later = feed(d, quick);
    expect(later.map((f) => f.kind)).toEqual(['nagle-cleared']);
    expect(d.suspected).toBe(false);
  });

  it('says what it costs and what to do', () => {
    const d = new NagleDetector();
    feed(d, Array.from({ length: 4 }, (_, k) => nagled(SELECT, k * 100, 43.6)).flat());
    const text = describeNagleReport(d.report());
    expect(text).toMatch(/^This VM's smart-card channel adds about 44 ms per command: /);
    expect(text).toContain('nodelay=on');
  });

  it('refuses nonsense options', () => {
    expect(() => new NagleDetector({ minStallMs: 0 })).toThrow(RangeError);
    expect(() => new NagleDetector({ minStallMs: 50, maxStallMs: 40 })).toThrow(RangeError);
    expect(() => new NagleDetector({ windowMessages: 0 })).toThrow(RangeError);
    expect(() => new NagleDetector({ windowMessages: 4, minStalls: 5 })).toThrow(RangeError);
    expect(() => new NagleDetector({ minStallShare: 0 })).toThrow(RangeError);
  });
});

const arbCommands = (minApdu: number): fc.Arbitrary<Uint8Array[]> =>
  fc.array(
    fc.uint8Array({ minLength: minApdu, maxLength: 300 }).map((apdu) => guestCommand([...apdu])),
    { minLength: 1, maxLength: 30 },
  );
const arbMessages = arbCommands(0);

/** Cuts `bytes` at the given fractions (sorted, deduplicated). */
function cut(bytes: Uint8Array, at: readonly number[]): Uint8Array[] {
  const points = [...new Set(at.map((f) => Math.floor(f * bytes.length)))]
    .filter((p) => p > 0 && p < bytes.length)
    .sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let from = 0;
  for (const p of [...points, bytes.length]) {
    out.push(bytes.subarray(from, p));
    from = p;
  }
  return out;
}

describe('NagleDetector: properties', () => {
  it('counts exactly the messages with a payload the framer cuts, for any chunking', () => {
    fc.assert(
      fc.property(arbMessages, fc.array(fc.double({ min: 0, max: 1, noNaN: true })), (msgs, at) => {
        const stream = new Uint8Array(msgs.flatMap((m) => [...m]));
        const d = new NagleDetector();
        const framer = new VscardFramer();
        let withPayload = 0;
        for (const [k, chunk] of cut(stream, at).entries()) {
          d.push(chunk, k); // 1 ms apart: never a stall
          withPayload += framer.push(chunk).filter((f) => f.length > 0).length;
        }
        const r = d.report();
        expect(r.messages).toBe(withPayload);
        expect(r.stalls).toBe(0);
        expect(r.suspected).toBe(false);
      }),
    );
  });

  it('without nodelay (each payload 40–200 ms after its header), any further chunking: suspected from the 3rd message', () => {
    fc.assert(
      fc.property(
        arbCommands(1).filter((m) => m.length >= 3),
        fc.array(fc.integer({ min: 40, max: 200 }), { minLength: 30, maxLength: 30 }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 4 }),
        (msgs, gaps, at) => {
          const d = new NagleDetector();
          let t = 0;
          for (const [k, m] of msgs.entries()) {
            d.push(m.subarray(0, 12), t);
            t += gaps[k] ?? 40;
            for (const piece of cut(m.subarray(12), at)) d.push(piece, t); // same read burst
            t += 5;
          }
          const r = d.report();
          expect(r.stalls).toBe(msgs.length);
          expect(r.suspected).toBe(true);
          expect(r.confidence).toBe(1);
          const window = gaps
            .slice(Math.max(0, msgs.length - 16), msgs.length)
            .sort((a, b) => a - b);
          expect(r.typicalStallMs).toBeGreaterThanOrEqual(window[0] ?? 0);
          expect(r.typicalStallMs).toBeLessThanOrEqual(window[window.length - 1] ?? 0);
        },
      ),
    );
  });

  it('never throws on arbitrary bytes (huge lengths included) and never reports without stalls', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 40 }), (chunks) => {
        const d = new NagleDetector();
        for (const [k, c] of chunks.entries()) expect(d.push(c, k)).toBeNull();
        expect(d.report().stalls).toBe(0);
      }),
    );
  });
});

/** The verdict from the last `size` judged gaps, computed plainly (the detector's definition). */
function plainVerdict(gaps: readonly number[], size: number): Record<string, unknown> {
  const isStall = (g: number): boolean => g >= 25 && g <= 500;
  const window = gaps.slice(Math.max(0, gaps.length - size));
  const stalled = window.filter(isStall).sort((a, b) => a - b);
  const mid = stalled.length / 2;
  const median =
    stalled.length === 0
      ? 0
      : stalled.length % 2 === 1
        ? stalled[Math.floor(mid)]!
        : (stalled[mid - 1]! + stalled[mid]!) / 2;
  return {
    messages: gaps.length,
    stalls: gaps.filter(isStall).length,
    windowMessages: window.length,
    windowStalls: stalled.length,
    typicalStallMs: Math.round(median * 10) / 10,
    suspected: stalled.length >= 2 && stalled.length / window.length >= 0.5,
  };
}

describe('NagleDetector: window made on the first stall', () => {
  it('gives the plain verdict after any run of quick messages then stalls, any window size', () => {
    const gap = fc.oneof(fc.integer({ min: 0, max: 24 }), fc.integer({ min: 25, max: 600 }));
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.array(fc.integer({ min: 0, max: 24 }), { maxLength: 40, size: 'max' }),
        fc.array(gap, { maxLength: 60, size: 'max' }),
        (size, quick, later) => {
          const d = new NagleDetector({ windowMessages: size, minStalls: Math.min(2, size) });
          const gaps: number[] = [];
          let t = 0;
          for (const g of [...quick, ...later]) {
            d.push(SELECT.subarray(0, 12), t);
            d.push(SELECT.subarray(12), t + g);
            gaps.push(g);
            t += g + 1;
            const expected = plainVerdict(gaps, size);
            if (size === 1) expected['suspected'] = (expected['windowStalls'] as number) >= 1;
            expect(d.report()).toMatchObject(expected);
          }
        },
      ),
    );
  });
});
