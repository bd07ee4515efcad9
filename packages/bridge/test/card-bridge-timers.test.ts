/**
 * The shell's timers against its clock: a timer stands for the time it was armed for, even
 * when it fires while the clock still reads earlier (Node measures timeouts from a cached
 * loop time, so a busy loop makes them fire "early" by Date.now).
 */
import { describe, expect, it } from 'vitest';
import { memoryBridge } from './helpers/memory-bridge.ts';

describe('timers firing before the clock', () => {
  it('an ack timeout still ends the session when the clock has not reached the deadline', async () => {
    const delays: number[] = [];
    const { bridge, socket } = memoryBridge({
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
    socket.isAutoAck = false; // the VM never answers Init
    await expect(bridge.start()).rejects.toMatchObject({ code: 'BRIDGE_VM_NOT_ANSWERING' });
    expect(delays[0]).toBe(100);
    expect(bridge.state.link).toBe('failed');
    expect(socket.closeCode).toBe(1000);
  });
});
