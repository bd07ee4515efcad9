import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  VscardFramer,
  decodeMessage,
  isVscardError,
  parseAtr,
  qemu72AcceptsAtr,
  toQemuT0CompatibleAtr,
  type VscardMessage,
} from '../src/index.ts';
import { clientConnections, hex, loadVectors, toHex } from './vectors.ts';

const vectors = loadVectors();
const byName = (n: string) => {
  const v = vectors.find((x) => x.name === n);
  if (!v) throw new Error(`missing vector ${n}`);
  return v;
};

/** Each ATR of s07 with QEMU's answer and the vector's note about it. */
function s07Cases(): { atr: Uint8Array; code: number; note: string }[] {
  const v = byName('s07_atr_validation');
  const msgs = v.steps.map((s) => ({ dir: s.dir, msg: decodeMessage(hex(s.hex)) }));
  const out: { atr: Uint8Array; code: number; note: string }[] = [];
  msgs.forEach((s, i) => {
    if (s.dir !== 'c2h' || s.msg.type !== 'ATR') return;
    const reply = msgs[i + 1]?.msg as VscardMessage;
    if (reply.type !== 'Error') throw new Error('expected an Error reply');
    const note = v.notes?.find((n) =>
      n.includes(`atr=${toHex(s.msg.type === 'ATR' ? s.msg.atr : new Uint8Array())} `),
    );
    if (!note) throw new Error(`no note for ${toHex((s.msg as { atr: Uint8Array }).atr)}`);
    out.push({ atr: s.msg.atr, code: reply.code, note });
  });
  return out;
}

describe('qemu72AcceptsAtr', () => {
  const cases = s07Cases();

  it('covers all 18 ATRs of vector s07', () => {
    expect(cases).toHaveLength(18);
  });

  it.each(cases.map((c) => [toHex(c.atr) || '(empty)', c] as const))(
    'predicts QEMU 7.2 exactly for %s',
    (_label, c) => {
      const verdict = qemu72AcceptsAtr(c.atr);
      expect(verdict.ok).toBe(c.code === 0);
      // The reason matches QEMU's own log line, and the length QEMU expects matches the note.
      if (!verdict.ok) {
        const logged = c.note.includes('ATR size exceeds spec')
          ? 'ATR size exceeds spec'
          : 'ATR is inconsistent';
        expect(verdict.reason.startsWith(logged)).toBe(true);
      }
      const expects = /qemu expects (?:>= )?(\d+)/.exec(c.note)?.[1];
      if (expects !== undefined) {
        if (verdict.ok) expect(verdict.expectedLength).toBe(Number(expects));
        else expect(verdict.reason).toContain(`at least ${expects}`);
      }
    },
  );

  it('agrees with QEMU on every other ATR in the vectors (all acknowledged with 0)', () => {
    let n = 0;
    for (const v of vectors) {
      if (v.name === 's07_atr_validation') continue;
      for (const conn of clientConnections(v)) {
        const framer = new VscardFramer();
        for (const w of conn.error ? conn.writes.slice(0, conn.error.atWrite) : conn.writes) {
          for (const f of framer.push(w)) {
            if (f.type !== 5) continue;
            const m = decodeMessage(f.bytes);
            if (m.type !== 'ATR') continue;
            expect(qemu72AcceptsAtr(m.atr), `${v.name} ${toHex(m.atr)}`).toMatchObject({
              ok: true,
            });
            n++;
          }
        }
      }
    }
    expect(n).toBeGreaterThan(10);
  });

  it('never throws, whatever the bytes (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 48 }), (b) => {
        const v = qemu72AcceptsAtr(b);
        expect(typeof v.ok).toBe('boolean');
        if (b.length > 40 || b.length < 2) expect(v.ok).toBe(false);
      }),
      { numRuns: 500 },
    );
  });
});

describe('parseAtr', () => {
  it.each(s07Cases().map((c) => [toHex(c.atr) || '(empty)', c] as const))(
    'agrees with the ISO 7816-3 verdict of the s07 note for %s',
    (_label, c) => {
      const iso = /ISO-valid \[([\d, ]+)\]/.exec(c.note);
      if (iso) {
        const p = parseAtr(c.atr);
        expect(p.problems).toEqual([]);
        const listed = (iso[1] ?? '').split(',').map((x) => Number(x.trim()));
        expect(p.tdProtocols.length === 0 ? [0] : p.tdProtocols).toEqual(listed);
      } else {
        expect(c.note).toMatch(/ISO-invalid/);
        try {
          expect(parseAtr(c.atr).problems.length).toBeGreaterThan(0);
        } catch (e) {
          expect(isVscardError(e) && e.code).toBe('VSCARD_BAD_ATR');
        }
      }
    },
  );

  it('tells the protocols offered', () => {
    const yubikey = parseAtr(hex('3bfd1300008131fe158073c021c057597562694b657940'));
    expect(yubikey).toMatchObject({
      protocols: [1],
      isT0Implicit: false,
      historicalLength: 13,
      isTckRequired: true,
      tck: 0x40,
      isTckValid: true,
    });
    expect(toHex(yubikey.historical)).toBe('8073c021c057597562694b6579');
    expect(yubikey.levels).toEqual([
      { i: 1, ta: 0x13, tb: 0, tc: 0, td: 0x81 },
      { i: 2, td: 0x31 },
      { i: 3, ta: 0xfe, tb: 0x15 },
    ]);
    expect(parseAtr(hex('3b7d96000080318065b0831117d683009000'))).toMatchObject({
      protocols: [0],
      isT0Implicit: true,
      isTckRequired: false,
    });
    expect(parseAtr(hex('3bdb960080b1fe451f830012233f536549440f9000f1')).protocols).toEqual([0, 1]);
    expect(parseAtr(hex('3bdb9600801f030031c064b0f3100007900080')).protocols).toEqual([0]);
    const wrongTck = parseAtr(hex('3bfd1300008131fe158073c021c057597562694b6579bf'));
    expect(wrongTck.isTckValid).toBe(false);
    expect(wrongTck.problems).toEqual(['bad TCK']);
  });

  it('throws VSCARD_BAD_ATR when the structure cannot be read', () => {
    for (const h of ['', '3b', '3bf01122']) {
      try {
        parseAtr(hex(h));
        expect.unreachable(h);
      } catch (e) {
        expect(isVscardError(e) && e.code).toBe('VSCARD_BAD_ATR');
      }
    }
  });

  it('only ever returns or throws VscardError (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (b) => {
        let p: ReturnType<typeof parseAtr> | undefined;
        try {
          p = parseAtr(b);
        } catch (e) {
          expect(isVscardError(e)).toBe(true);
        }
        // T=15 alone is the only way to offer no transmission protocol.
        if (p && p.protocols.length === 0) expect(p.tdProtocols.every((t) => t === 15)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});

describe('toQemuT0CompatibleAtr', () => {
  it('turns the YubiKey ATR into the form verified in vector g11', () => {
    const g11 = byName('g11_pcscd_t1_card_as_t0');
    const sent = g11.steps
      .map((s) => decodeMessage(hex(s.hex)))
      .find((m): m is Extract<VscardMessage, { type: 'ATR' }> => m.type === 'ATR');
    const out = toQemuT0CompatibleAtr(hex('3bfd1300008131fe158073c021c057597562694b657940'));
    expect(toHex(out)).toBe(toHex(sent?.atr ?? new Uint8Array()));
    expect(toHex(out)).toBe('3b0d8073c021c057597562694b6579');
    expect(parseAtr(out)).toMatchObject({ protocols: [0], isT0Implicit: true, problems: [] });
  });

  it('fixes the T=1 ATR QEMU 7.2 refuses through its parser bug', () => {
    const refused = hex('3b84015653434487');
    expect(qemu72AcceptsAtr(refused).ok).toBe(false);
    const out = toQemuT0CompatibleAtr(refused);
    expect(toHex(out)).toBe('3b0456534344');
    expect(qemu72AcceptsAtr(out).ok).toBe(true);
  });

  it('leaves ATRs that already offer T=0 unchanged (a copy)', () => {
    for (const h of ['3b890056434152445f4e5353', '3bdb960080b1fe451f830012233f536549440f9000f1']) {
      const atr = hex(h);
      const out = toQemuT0CompatibleAtr(atr);
      expect(toHex(out)).toBe(h);
      expect(out).not.toBe(atr);
    }
  });

  it('always yields an ISO-valid implicit-T=0 ATR that QEMU 7.2 accepts (property)', () => {
    const t1Atr = fc
      .record({
        hist: fc.uint8Array({ maxLength: 15 }),
        ta1: fc.option(fc.nat({ max: 255 }), { nil: undefined }),
        td2: fc.boolean(),
      })
      .map(({ hist, ta1, td2 }) => {
        const bytes = [0x3b, 0x80 | (ta1 === undefined ? 0 : 0x10) | hist.length];
        if (ta1 !== undefined) bytes.push(ta1);
        bytes.push(td2 ? 0x81 : 0x01);
        if (td2) bytes.push(0x31, 0xfe, 0x45);
        bytes.push(...hist);
        let x = 0;
        for (const b of bytes.slice(1)) x ^= b;
        bytes.push(x);
        return { atr: Uint8Array.from(bytes), hist };
      });
    fc.assert(
      fc.property(t1Atr, ({ atr, hist }) => {
        expect(parseAtr(atr)).toMatchObject({ protocols: [1], problems: [] });
        const out = toQemuT0CompatibleAtr(atr);
        expect(qemu72AcceptsAtr(out).ok).toBe(true);
        const p = parseAtr(out);
        expect(p).toMatchObject({ protocols: [0], isT0Implicit: true, problems: [] });
        expect(toHex(p.historical)).toBe(toHex(hist));
      }),
      { numRuns: 300 },
    );
  });
});
