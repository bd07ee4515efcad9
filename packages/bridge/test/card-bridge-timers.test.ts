/**
 * The shell's timers against its clock: a timer stands for the time it was armed for, even
 * when it fires while the clock still reads earlier (Node measures timeouts from a cached
 * loop time, so a busy loop makes them fire "early" by Date.now).
 */
import { describe, expect, it } from 'vitest';
import { CardBridge } from '../src/card-bridge.ts';
import { CAC_T0_ATR, makeCard } from './helpers/cards.ts';
import { MemorySocket } from './helpers/memory-socket.ts';
import { ScriptedReader } from './helpers/scripted-reader.ts';

describe('timers firing before the clock', () => {
  it('an ack timeout still ends the session when the clock has not reached the deadline', async () => {
    const reader = new ScriptedReader();
    reader.card = makeCard({ atr: CAC_T0_ATR, protocol: 0 });
    const socket = new MemorySocket();
    socket.isAutoAck = false; // the VM never answers Init
    const delays: number[] = [];
    const bridge = new CardBridge({
      reader,
      relayUrl: 'ws://relay.test',
      createWebSocket: () => {
        queueMicrotask(() => socket.open());
        return socket;
      },
      ackTimeoutMs: 100,
      now: () => 0, // the clock never moves
      timers: {
        setTimeout: (cb, ms) => {
          delays.push(ms);
          return setTimeout(cb, 0); // and every timer fires at once
        },
        clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
      },
    });
    await expect(bridge.start()).rejects.toMatchObject({ code: 'BRIDGE_VM_NOT_ANSWERING' });
    expect(delays[0]).toBe(100);
    expect(bridge.state.link).toBe('failed');
    expect(socket.closeCode).toBe(1000);
  });
});
