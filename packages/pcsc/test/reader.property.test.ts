/**
 * Property: whatever happens to the card, the reader and the service (random removals,
 * inserts, resets by another program, service stops and starts, injected PC/SC failures,
 * empty answers, answers that never come, the reader unplugged), every call on a PcscReader
 * settles: it resolves with a whole answer or rejects with a PcscError carrying a CCID-level
 * code and a PC/SC source code. Events alternate card-removed / card-inserted and reader-gone
 * comes at most once, last. Fake binding, fake time.
 */
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ReaderEvent } from '@cardlend/ccid';
import { CCID_TO_BRIDGE } from '@cardlend/bridge';
import { isPcscCode, isPcscError, openReader } from '../src/index.ts';
import type { PcscCode } from '../src/index.ts';
import { FakeBinding } from './helpers/fake-binding.ts';

const R = 'Fake Reader 00 00';
const CODES: PcscCode[] = [
  'SCARD_W_REMOVED_CARD',
  'SCARD_W_RESET_CARD',
  'SCARD_E_SHARING_VIOLATION',
  'SCARD_E_NO_SERVICE',
  'SCARD_F_COMM_ERROR',
  'SCARD_E_TIMEOUT',
  'SCARD_E_NOT_TRANSACTED',
  'SCARD_E_INVALID_HANDLE',
];

type Action =
  | { kind: 'transmit' | 'powerOn' | 'powerOff' | 'status' }
  | { kind: 'remove' | 'insert' | 'reset' | 'stop' | 'start' | 'unplug' | 'hang' | 'empty' }
  | { kind: 'fail'; code: PcscCode }
  | { kind: 'tick'; ms: number };

const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 8, arbitrary: fc.constant<Action>({ kind: 'transmit' }) },
  { weight: 3, arbitrary: fc.constant<Action>({ kind: 'powerOn' }) },
  {
    weight: 4,
    arbitrary: fc.constantFrom<Action>(
      { kind: 'powerOff' },
      { kind: 'status' },
      { kind: 'remove' },
      { kind: 'insert' },
      { kind: 'reset' },
      { kind: 'stop' },
      { kind: 'start' },
    ),
  },
  { weight: 3, arbitrary: fc.constantFrom<Action>({ kind: 'hang' }, { kind: 'empty' }) },
  { weight: 1, arbitrary: fc.constant<Action>({ kind: 'unplug' }) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(...CODES).map((code): Action => ({ kind: 'fail', code })),
  },
  {
    weight: 3,
    arbitrary: fc.integer({ min: 1, max: 3000 }).map((ms): Action => ({ kind: 'tick', ms })),
  },
);

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
});

/** How many answers were withheld / empty across all runs (the property must exercise them). */
const served = { hang: 0, empty: 0 };

/** Answers for the next transmits: 'ok' (echo + 9000), 'hang' (never), 'empty'. */
function makeAnswerer(binding: FakeBinding, modes: ('hang' | 'empty')[]): void {
  binding.answerer = (apdu) => {
    const mode = modes.shift();
    if (mode !== undefined) served[mode]++;
    if (mode === 'hang') return new Promise<Uint8Array>(() => undefined);
    if (mode === 'empty') return new Uint8Array(0);
    return Uint8Array.from([...apdu.subarray(5, 5 + (apdu[4] ?? 0)), 0x90, 0x00]);
  };
}

function apply(binding: FakeBinding, a: Action, modes: ('hang' | 'empty')[]): void {
  const hasReader = binding.hasReader(R);
  if (a.kind === 'remove' && hasReader) binding.removeCard(R);
  else if (a.kind === 'insert' && hasReader) binding.insertCard(R);
  else if (a.kind === 'reset' && hasReader) binding.resetCard(R);
  else if (a.kind === 'stop') binding.stopService();
  else if (a.kind === 'start') binding.startService();
  else if (a.kind === 'unplug') binding.removeReader(R);
  else if (a.kind === 'hang' || a.kind === 'empty') modes.push(a.kind);
  else if (a.kind === 'fail') binding.nextFailures.push(a.code);
}

function checkEvents(events: ReaderEvent[]): void {
  const gone = events.findIndex((e) => e.type === 'reader-gone');
  if (gone !== -1) expect(gone).toBe(events.length - 1);
  const cardEvents = events.filter((e) => e.type !== 'reader-gone').map((e) => e.type);
  for (let i = 1; i < cardEvents.length; i++) expect(cardEvents[i]).not.toBe(cardEvents[i - 1]);
}

describe('PcscReader under random faults', () => {
  it('settles every call, typed; events alternate', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.boolean(),
        fc.array(action, { minLength: 1, maxLength: 60 }),
        async (withCard, actions) => {
          const binding = new FakeBinding();
          binding.addReader(R);
          if (withCard) binding.insertCard(R);
          const modes: ('hang' | 'empty')[] = [];
          makeAnswerer(binding, modes);
          const opening = openReader(R, {
            binding,
            answerTimeoutMs: 2000,
            callTimeoutMs: 3000,
            serviceWaitMs: 2000,
          });
          await vi.advanceTimersByTimeAsync(200);
          const reader = await opening;
          const events: ReaderEvent[] = [];
          reader.onEvent((e) => events.push(e));
          const calls: Promise<unknown>[] = [];
          const outcomes: unknown[] = [];
          const track = (p: Promise<unknown>, kind: string): void => {
            calls.push(
              p.then(
                (v) => outcomes.push({ kind, value: v }),
                (e: unknown) => outcomes.push({ kind, error: e }),
              ),
            );
          };
          for (const a of actions) {
            if (a.kind === 'transmit')
              track(reader.transmit(Uint8Array.of(0x80, 0x30, 0, 0, 2, 7, 9, 0)), 'transmit');
            else if (a.kind === 'powerOn') track(reader.powerOn(), 'powerOn');
            else if (a.kind === 'powerOff') track(reader.powerOff(), 'powerOff');
            else if (a.kind === 'status') track(reader.getSlotStatus(), 'status');
            else if (a.kind === 'tick') await vi.advanceTimersByTimeAsync(a.ms);
            else apply(binding, a, modes);
          }
          binding.startService();
          await vi.advanceTimersByTimeAsync(300_000);
          expect(outcomes).toHaveLength(calls.length); // nothing hangs
          for (const o of outcomes as { kind: string; value?: unknown; error?: unknown }[]) {
            if ('error' in o) {
              const e = o.error;
              if (e instanceof RangeError) throw e;
              expect(isPcscError(e)).toBe(true);
              if (!isPcscError(e)) continue;
              expect(Object.hasOwn(CCID_TO_BRIDGE, e.code)).toBe(true);
              expect(isPcscCode(e.sourceCode)).toBe(true);
            } else if (o.kind === 'transmit') {
              const answer = o.value as Uint8Array;
              expect([...answer]).toEqual([7, 9, 0x90, 0x00]);
            }
          }
          checkEvents(events);
          const closing = reader.close();
          await vi.advanceTimersByTimeAsync(3000);
          await closing;
        },
      ),
      // A fixed seed: the counts below check that the runs reach withheld and empty answers,
      // which depends on the generated schedules.
      { numRuns: 200, seed: 20261206 },
    );
    expect(served.hang).toBeGreaterThan(0);
    expect(served.empty).toBeGreaterThan(0);
  }, 120_000);
});
