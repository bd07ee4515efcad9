/**
 * The whole bridge retrying a power on: a scripted reader whose first power on is refused the
 * way a PC/SC reader refuses it while another program holds the card, an in-memory relay
 * socket, and a clock and timers the test moves by hand (no waiting on real time).
 */
import { decodeMessage } from '@cardlend/vscard';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { BridgeState, CardBridge } from '../src/card-bridge.ts';
import type { BridgeTimers } from '../src/platform.ts';
import { CAC_T0_ATR } from './helpers/cards.ts';
import { memoryBridge } from './helpers/memory-bridge.ts';
import { FakeCcidError } from './helpers/scripted-reader.ts';

/** Timers on a clock that moves only when the test says so. */
class ManualClock implements BridgeTimers {
  nowMs = 10_000;
  readonly #due = new Map<number, { atMs: number; callback: () => void }>();
  #next = 0;

  readonly now = (): number => this.nowMs;

  setTimeout(callback: () => void, delayMs: number): unknown {
    const handle = ++this.#next;
    this.#due.set(handle, { atMs: this.nowMs + delayMs, callback });
    return handle;
  }

  clearTimeout(handle: unknown): void {
    this.#due.delete(handle as number);
  }

  /** Delays of the timers armed now, ms from now. */
  get armedDelays(): number[] {
    return [...this.#due.values()].map((t) => t.atMs - this.nowMs);
  }

  /** Moves the clock by `ms`, firing the timers due by then in order. */
  advance(ms: number): void {
    this.nowMs += ms;
    for (;;) {
      const due = [...this.#due].filter(([, t]) => t.atMs <= this.nowMs);
      due.sort(([, a], [, b]) => a.atMs - b.atMs);
      const first = due[0];
      if (first === undefined) return;
      this.#due.delete(first[0]);
      first[1].callback();
    }
  }
}

const bridges: CardBridge[] = [];
afterEach(async () => {
  for (const b of bridges.splice(0)) await b.stop();
});

describe('CardBridge retrying a power on', () => {
  it('a power on refused once (sharing violation) is retried after 0.5 s; the VM gets the ATR once', async () => {
    const clock = new ManualClock();
    const { bridge, socket, reader } = memoryBridge({
      now: clock.now,
      timers: clock,
      stopTimeoutMs: 50,
    });
    bridges.push(bridge);
    reader.powerOnFailures.push(
      Object.assign(new FakeCcidError('CCID_DEVICE_BUSY'), {
        sourceCode: 'SCARD_E_SHARING_VIOLATION',
      }),
    );
    const states: BridgeState[] = [];
    bridge.onState((s) => states.push(s));
    await bridge.start();
    await vi.waitFor(() => expect(bridge.state.powerOnRetry).toBeDefined());
    expect(bridge.state).toMatchObject({
      link: 'lent',
      card: null,
      error: null,
      powerOnRetry: {
        attempt: 1,
        maxAttempts: 3,
        nextAtMs: clock.nowMs + 500,
        error: {
          code: 'BRIDGE_READER_BUSY',
          source: { kind: 'pcsc', code: 'SCARD_E_SHARING_VIOLATION' },
        },
      },
    });
    expect(clock.armedDelays).toContain(500);

    clock.advance(499);
    // The reader slot makes its calls a turn later: let a power on queued by now reach the reader.
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(reader.calls.filter((c) => c === 'powerOn')).toHaveLength(1);
    clock.advance(1);
    await vi.waitFor(() => expect(bridge.state.card?.vmStatus).toBe('accepted'));

    expect(reader.calls.filter((c) => c === 'powerOn')).toHaveLength(2);
    expect(bridge.state.powerOnRetry).toBeUndefined();
    expect(bridge.state.error).toBeNull();
    const atrs = socket.sent
      .map((f) => decodeMessage(f, { errorCodeByteOrder: 'le' }))
      .filter((m) => m.type === 'ATR');
    expect(atrs).toHaveLength(1);
    expect(atrs[0]).toMatchObject({ atr: CAC_T0_ATR });
    // The page never saw the failure as the bridge's error.
    expect(states.some((s) => s.error !== null)).toBe(false);
    // Every timer left runs out: no further power on.
    clock.advance(10_000);
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(reader.calls.filter((c) => c === 'powerOn')).toHaveLength(2);
    expect(bridge.state).toMatchObject({ link: 'lent', card: { vmStatus: 'accepted' } });
  });
});
