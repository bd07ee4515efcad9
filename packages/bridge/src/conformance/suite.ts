/**
 * The reader conformance suite: what every {@link BridgeReader} implementation must do, as
 * vitest tests (reader.ts documents the contract; harness.ts what an implementation provides
 * to be tested). Call {@link runReaderConformance} at the top level of a test file.
 *
 * Waits are on things happening (an event, a call settling), bounded by {@link WAIT_MS}; the
 * suite never sleeps and then asserts that nothing happened.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { BridgeReaderEvent } from '../reader.ts';
import { echoCommand, pattern, statusCommand } from './card.ts';
import type { HeldAnswer, ReaderHarness, ReaderHarnessFactory } from './harness.ts';

/** The answer time limit the suite asks harnesses for, ms. */
export const ANSWER_TIMEOUT_MS = 1000;
/** Longest the suite waits for an event or a call, ms. */
const WAIT_MS = 10 * ANSWER_TIMEOUT_MS;

const NINETY_00 = [0x90, 0x00];

/** Events heard by one listener. */
interface Recorder {
  readonly events: BridgeReaderEvent[];
  /** Resolves when an event of `type` (for the harness slot, unless reader-gone) has been heard. */
  waitFor(type: BridgeReaderEvent['type']): Promise<void>;
  stop(): void;
}

function record(h: ReaderHarness): Recorder {
  const events: BridgeReaderEvent[] = [];
  const stop = h.reader.onEvent((e) => events.push(e));
  const has = (type: BridgeReaderEvent['type']): boolean =>
    events.some((e) => e.type === type && (e.type === 'reader-gone' || e.slot === h.slot));
  return {
    events,
    stop,
    waitFor: (type) =>
      vi.waitFor(
        () => {
          if (!has(type)) throw new Error(`no ${type} event yet`);
        },
        { timeout: WAIT_MS, interval: 5 },
      ),
  };
}

function codeOf(e: unknown): unknown {
  return typeof e === 'object' && e !== null ? (e as { code?: unknown }).code : undefined;
}

/** Resolves with the code `p` rejects with; fails the test when it resolves. */
async function rejectionCode(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return codeOf(e);
  }
  throw new Error('expected the call to reject');
}

/**
 * Sends an ECHO whose answer the card holds; resolves once the command reached the card,
 * with the hold and the code the command will reject with.
 */
async function sendHeld(
  h: ReaderHarness,
  seed: number,
): Promise<{ held: HeldAnswer; pending: Promise<unknown> }> {
  const held = h.holdNextAnswer();
  const pending = rejectionCode(
    h.reader.transmit(echoCommand(pattern(16, seed)), { slot: h.slot }),
  );
  await held.reached;
  return { held, pending };
}

async function echo(h: ReaderHarness, seed: number, n = 8): Promise<void> {
  const data = pattern(n, seed);
  const answer = await h.reader.transmit(echoCommand(data), { slot: h.slot });
  expect([...answer]).toEqual([...data, ...NINETY_00]);
}

/**
 * Registers the conformance tests for one reader implementation under `name`. Each test
 * gets a fresh harness from `createHarness` and disposes of it afterwards.
 */
export function runReaderConformance(name: string, createHarness: ReaderHarnessFactory): void {
  describe(`reader conformance: ${name}`, () => {
    let current: ReaderHarness | undefined;
    const open = async (withCard: boolean): Promise<ReaderHarness> => {
      current = await createHarness({ answerTimeoutMs: ANSWER_TIMEOUT_MS, withCard });
      return current;
    };
    afterEach(async () => {
      await current?.dispose();
      current = undefined;
    });

    describePower(open);
    describeTransmit(open);
    describeEvents(open);
    describeFailures(open);
  });
}

type Open = (withCard: boolean) => Promise<ReaderHarness>;

function describePower(open: Open): void {
  describe('power', () => {
    it('reports an empty slot as absent and refuses to power it on (CCID_CARD_ABSENT)', async () => {
      const h = await open(false);
      expect(await h.reader.getSlotStatus(h.slot)).toBe('absent');
      expect(await rejectionCode(h.reader.powerOn(h.slot))).toBe('CCID_CARD_ABSENT');
      await expect(h.reader.powerOff(h.slot)).resolves.toBeUndefined();
    });

    it("powers a card on: the card's ATR, protocol 0 or 1, slot active", async () => {
      const h = await open(true);
      expect(['inactive', 'active']).toContain(await h.reader.getSlotStatus(h.slot));
      const card = await h.reader.powerOn(h.slot);
      expect([...card.atr]).toEqual([...h.atr]);
      expect([0, 1]).toContain(card.protocol);
      expect(await h.reader.getSlotStatus(h.slot)).toBe('active');
      card.atr.fill(0); // the caller's copy: the next power on is not affected
      expect([...(await h.reader.powerOn(h.slot)).atr]).toEqual([...h.atr]);
      await echo(h, 1);
    });

    it('powers off: transmit then rejects with CCID_NOT_POWERED until the next power on', async () => {
      const h = await open(true);
      await h.reader.powerOn(h.slot);
      await h.reader.powerOff(h.slot);
      await h.reader.powerOff(h.slot);
      const cmd = echoCommand(pattern(4, 2));
      expect(await rejectionCode(h.reader.transmit(cmd, { slot: h.slot }))).toBe(
        'CCID_NOT_POWERED',
      );
      await h.reader.powerOn(h.slot);
      await echo(h, 3);
    });

    it('refuses transmit before the first power on (CCID_NOT_POWERED)', async () => {
      const h = await open(true);
      const cmd = echoCommand(pattern(4, 4));
      expect(await rejectionCode(h.reader.transmit(cmd, { slot: h.slot }))).toBe(
        'CCID_NOT_POWERED',
      );
    });
  });
}

function describeTransmit(open: Open): void {
  describe('transmit', () => {
    it.each([
      { what: 'one byte', n: 1 },
      { what: '200 bytes', n: 200 },
      { what: '255 bytes', n: 255 },
    ])('returns the whole answer, data and status word: ECHO of $what', async ({ n }) => {
      const h = await open(true);
      await h.reader.powerOn(h.slot);
      await echo(h, n, n);
    });

    it.each([0x9000, 0x6a82, 0x6283, 0x6982])(
      'returns status word %s as data, never as an error',
      async (sw) => {
        const h = await open(true);
        await h.reader.powerOn(h.slot);
        const answer = await h.reader.transmit(statusCommand(sw), { slot: h.slot });
        expect([...answer]).toEqual([sw >> 8, sw & 0xff]);
      },
    );

    it('answers commands one after another, each with its own answer', async () => {
      const h = await open(true);
      await h.reader.powerOn(h.slot);
      for (let seed = 10; seed < 20; seed++) await echo(h, seed, seed);
    });
  });
}

function describeEvents(open: Open): void {
  describe('events', () => {
    it('reports card-inserted and card-removed for the slot; a pulled card is unpowered', async () => {
      const h = await open(false);
      const rec = record(h);
      await h.insertCard();
      await rec.waitFor('card-inserted');
      await h.reader.powerOn(h.slot);
      await h.removeCard();
      await rec.waitFor('card-removed');
      expect(rec.events.map((e) => e.type)).toEqual(['card-inserted', 'card-removed']);
      const code = await rejectionCode(
        h.reader.transmit(echoCommand(pattern(4, 5)), { slot: h.slot }),
      );
      expect(['CCID_NOT_POWERED', 'CCID_CARD_ABSENT']).toContain(code);
      expect(await h.reader.getSlotStatus(h.slot)).toBe('absent');
    });

    it('delivers to every listener even when one throws; an unsubscribed one hears nothing', async () => {
      const h = await open(true);
      const gone = record(h);
      gone.stop();
      const throwing = h.reader.onEvent(() => {
        throw new Error('listener failure (expected by the test)');
      });
      const rec = record(h);
      await h.removeCard();
      await rec.waitFor('card-removed');
      expect(gone.events).toEqual([]);
      throwing();
    });
  });
}

function describeFailures(open: Open): void {
  describe('failures', () => {
    it.each([
      {
        what: 'card removed',
        pull: (h: ReaderHarness) => h.removeCard(),
        code: 'CCID_CARD_ABSENT',
        event: 'card-removed' as const,
        after: 'a new card works',
        check: async (h: ReaderHarness, rec: Recorder) => {
          await h.insertCard();
          await rec.waitFor('card-inserted');
          await h.reader.powerOn(h.slot);
          await echo(h, 7);
        },
      },
      {
        what: 'reader gone',
        pull: (h: ReaderHarness) => h.unplugReader(),
        code: 'CCID_READER_GONE',
        event: 'reader-gone' as const,
        after: 'the reader stays gone',
        check: async (h: ReaderHarness) => {
          expect(await rejectionCode(h.reader.getSlotStatus(h.slot))).toBe('CCID_READER_GONE');
        },
      },
    ])('$what mid-command: the command rejects with $code, a $event event; $after', async (c) => {
      const h = await open(true);
      const rec = record(h);
      await h.reader.powerOn(h.slot);
      const { held, pending } = await sendHeld(h, 6);
      await c.pull(h);
      expect(await pending).toBe(c.code);
      await rec.waitFor(c.event);
      await held.release();
      await c.check(h, rec);
    });

    it('reader gone while idle: one reader-gone event, every call rejects with CCID_READER_GONE', async () => {
      const h = await open(true);
      const rec = record(h);
      await h.reader.powerOn(h.slot);
      await h.unplugReader();
      await rec.waitFor('reader-gone');
      const calls: Promise<unknown>[] = [
        h.reader.getSlotStatus(h.slot),
        h.reader.powerOn(h.slot),
        h.reader.transmit(echoCommand(pattern(4, 8)), { slot: h.slot }),
        h.reader.powerOff(h.slot),
      ];
      for (const call of calls) expect(await rejectionCode(call)).toBe('CCID_READER_GONE');
      expect(rec.events.filter((e) => e.type === 'reader-gone')).toHaveLength(1);
    });

    it('late answer: an answer that comes after transmit gave up is never returned to a later command', async () => {
      const h = await open(true);
      await h.reader.powerOn(h.slot);
      const { held, pending } = await sendHeld(h, 100);
      expect(await pending).toBe('CCID_TIMEOUT');
      await held.release();
      // The next command gets its own answer; a reader may instead refuse it once while it
      // recovers, but it must never hand out the late answer.
      const own = pattern(16, 101);
      try {
        const answer = await h.reader.transmit(echoCommand(own), { slot: h.slot });
        expect([...answer]).toEqual([...own, ...NINETY_00]);
      } catch (e) {
        expect(codeOf(e)).toMatch(/^CCID_/);
        await h.reader.powerOn(h.slot);
      }
      await echo(h, 102, 16);
    });
  });
}
