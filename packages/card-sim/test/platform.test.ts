/**
 * The simulator's scheduling: runSoon takes the same place in the microtask queue as
 * queueMicrotask (first in, first out, behind what is already queued), so the simulated
 * reader's turns keep their order against the driver's promise reactions.
 */
import { describe, expect, it } from 'vitest';
import { dispatchSoon, runSoon, sleep } from '../src/platform.ts';

const settle = async (): Promise<void> => {
  for (let i = 0; i < 10; i++) await Promise.resolve();
};

describe('runSoon', () => {
  it('runs in the order queued, interleaved with queueMicrotask and promise reactions', async () => {
    const order: string[] = [];
    const settled = Promise.resolve();
    runSoon(() => order.push('run 1'));
    queueMicrotask(() => order.push('queue 1'));
    void settled.then(() => order.push('then 1'));
    dispatchSoon(() => order.push('dispatch 1'));
    runSoon(() => {
      order.push('run 2');
      // Queued from a callback: behind everything queued before this turn.
      runSoon(() => order.push('run 4'));
      queueMicrotask(() => order.push('queue 3'));
    });
    queueMicrotask(() => order.push('queue 2'));
    runSoon(() => order.push('run 3'));
    expect(order).toEqual([]);
    await settle();
    expect(order).toEqual([
      'run 1',
      'queue 1',
      'then 1',
      'dispatch 1',
      'run 2',
      'queue 2',
      'run 3',
      'run 4',
      'queue 3',
    ]);
  });

  it('takes as many turns as queueMicrotask before a waiter sees its effect', async () => {
    const seen: string[] = [];
    const waitFor = async (label: string, schedule: (fn: () => void) => void): Promise<void> => {
      let done = false;
      schedule(() => {
        done = true;
      });
      await sleep(0);
      seen.push(`${label} ${done}`);
    };
    await Promise.all([waitFor('runSoon', runSoon), waitFor('queueMicrotask', queueMicrotask)]);
    expect(seen).toEqual(['runSoon true', 'queueMicrotask true']);
  });
});
