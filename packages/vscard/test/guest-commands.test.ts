/**
 * GuestCommands keeps no record per command (the outstanding ids are a range, held answers a
 * map): checked against the plain model of a list of commands with optional answers.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GuestCommands } from '../src/guest-commands.ts';
import type { ApduAnswer } from '../src/index.ts';

/** The plain model: every outstanding command with its answer, if given. */
class Model {
  live: { id: number; answer?: ApduAnswer }[] = [];
  nextId = 1;
  isFlushRequested = false;

  add(): number {
    this.live.push({ id: this.nextId });
    return this.nextId++;
  }

  /** The answers sent by answering `id`, or 'stale' / 'throws'. */
  answer(id: number, a: ApduAnswer): ApduAnswer[] | 'stale' | 'throws' {
    const cmd = this.live.find((c) => c.id === id);
    if (!cmd) return 'stale';
    if (cmd.answer !== undefined) return 'throws';
    cmd.answer = a instanceof Uint8Array ? a.slice() : { errorCode: a.errorCode };
    const sent: ApduAnswer[] = [];
    while (this.live[0]?.answer !== undefined) sent.push(this.live.shift()!.answer!);
    return sent;
  }

  dropAll(): number[] {
    const stale = this.live.filter((c) => c.answer !== undefined).map((c) => c.id);
    this.live = [];
    return stale;
  }
}

/** The answers the session would send after answering `id`, as GuestCommands tells it. */
function answerReal(
  g: GuestCommands,
  id: number,
  a: ApduAnswer,
): ApduAnswer[] | 'stale' | 'throws' {
  let placement;
  try {
    placement = g.answer(id, a);
  } catch (e) {
    if (e instanceof RangeError) return 'throws';
    throw e;
  }
  if (placement === 'stale') return 'stale';
  const sent: ApduAnswer[] = placement === 'next' ? [a] : [];
  for (let x = g.takeNext(); x !== null; x = g.takeNext()) sent.push(x);
  return sent;
}

const op = fc.oneof(
  fc.constant({ kind: 'add' as const }),
  fc.record({
    kind: fc.constant('answer' as const),
    back: fc.integer({ min: 0, max: 6 }),
    answer: fc.oneof(
      fc.uint8Array({ minLength: 2, maxLength: 6 }),
      fc.record({ errorCode: fc.nat() }),
    ),
  }),
  fc.constant({ kind: 'drop' as const }),
  fc.constant({ kind: 'flush' as const }),
);

describe('GuestCommands', () => {
  it('matches the plain model over any sequence of commands, answers, flushes and drops', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80, size: 'max' }), (ops) => {
        const g = new GuestCommands();
        const m = new Model();
        for (const o of ops) {
          if (o.kind === 'add') expect(g.add()).toBe(m.add());
          else if (o.kind === 'drop') expect(g.dropAll()).toEqual(m.dropAll());
          else if (o.kind === 'flush') {
            g.requestFlush();
            m.isFlushRequested = true;
          } else {
            const id = m.nextId - 1 - o.back;
            expect(answerReal(g, id, o.answer)).toEqual(m.answer(id, o.answer));
          }
          expect(g.outstandingIds).toEqual(m.live.map((c) => c.id));
          expect(g.isEmpty).toBe(m.live.length === 0);
          const isDue = m.isFlushRequested && m.live.length === 0;
          if (isDue) m.isFlushRequested = false;
          expect(g.takeFlushComplete()).toBe(isDue);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('keeps a copy of a held answer, never of the one sent at once', () => {
    const g = new GuestCommands();
    g.add();
    g.add();
    const held = Uint8Array.of(0x90, 0x00);
    expect(g.answer(2, held)).toBe('held');
    held[0] = 0x6a;
    expect(g.answer(1, held)).toBe('next');
    expect(g.takeNext()).toEqual(Uint8Array.of(0x90, 0x00));
    expect(g.isEmpty).toBe(true);
  });
});
