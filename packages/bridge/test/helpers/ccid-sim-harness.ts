/**
 * Conformance harness (src/conformance/harness.ts) for the WebUSB `CcidReader` of
 * @cardlend/ccid over @cardlend/card-sim's simulated reader: the card is a simulated card
 * running the conformance application; holding an answer holds its `process` promise.
 */
import { openReader } from '@cardlend/ccid/webusb';
import { SimulatedReader } from '@cardlend/card-sim';
import type { ReaderProfile, VirtualCard } from '@cardlend/card-sim';
import { conformanceCardAnswer } from '../../src/conformance/index.ts';
import type {
  HeldAnswer,
  ReaderHarness,
  ReaderHarnessFactory,
} from '../../src/conformance/index.ts';

type CardProcess = (apdu: Uint8Array) => Promise<Uint8Array>;

/** One held answer: the card waits on `released`; the harness learns when it got there and when it answered. */
class Gate {
  isReached = false;
  readonly reached: Promise<void>;
  readonly released: Promise<void>;
  readonly handed: Promise<void>;
  markReached = (): void => undefined;
  release = (): void => undefined;
  markHanded = (): void => undefined;

  constructor() {
    this.reached = new Promise((resolve) => {
      this.markReached = () => {
        this.isReached = true;
        resolve();
      };
    });
    this.released = new Promise((resolve) => {
      this.release = resolve;
    });
    this.handed = new Promise((resolve) => {
      this.markHanded = resolve;
    });
  }
}

/**
 * A factory of harnesses: a simulated reader of `profile` holding `makeCard(process)` in
 * slot 0, opened with the CCID driver.
 */
export function ccidSimHarness(
  profile: ReaderProfile,
  makeCard: (process: CardProcess) => VirtualCard,
): ReaderHarnessFactory {
  return async ({ answerTimeoutMs, withCard }) => {
    let gate: Gate | null = null;
    const gates: Gate[] = [];
    const card = makeCard(async (apdu) => {
      const answer = conformanceCardAnswer(apdu);
      const g = gate;
      if (g !== null) {
        gate = null;
        g.markReached();
        await g.released;
        g.markHanded();
      }
      return answer;
    });
    const sim = new SimulatedReader({ profile });
    if (withCard) sim.insertCard(card, 0);
    const reader = await openReader(sim.device, {
      isBrowserBlockingProtectedClasses: false,
      timeoutMs: answerTimeoutMs,
      pollIntervalMs: 20,
    });
    const harness: ReaderHarness = {
      reader,
      slot: 0,
      atr: card.atr.slice(),
      insertCard: () => Promise.resolve(sim.insertCard(card, 0)),
      removeCard: () => {
        sim.removeCard(0);
        // A pulled card computes nothing more: its held answer comes out now and is lost.
        for (const g of gates) g.release();
        return Promise.resolve();
      },
      unplugReader: () => Promise.resolve(sim.unplug()),
      holdNextAnswer(): HeldAnswer {
        if (gate !== null) throw new Error('an answer is already held');
        const g = new Gate();
        gate = g;
        gates.push(g);
        return {
          reached: g.reached,
          release: async () => {
            g.release();
            if (!g.isReached) return;
            await g.handed;
            // The firmware queues the reply in the same macrotask the card answered in.
            await new Promise((resolve) => setImmediate(resolve));
          },
        };
      },
      async dispose() {
        for (const g of gates) g.release();
        await reader.close().catch(() => undefined);
      },
    };
    return harness;
  };
}
