import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { CcidCommand, CcidResponse } from '../src/core/index.ts';
import { AnswerWait } from '../src/webusb/answer-wait.ts';
import { DeadlineWatchdog } from '../src/webusb/deadline-watchdog.ts';

const command: CcidCommand = { type: 'GetSlotStatus', slot: 1, seq: 7 };
const response = { type: 'SlotStatus', slot: 1, seq: 7 } as CcidResponse;

describe('AnswerWait', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date', 'performance'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('times out after timeoutMs, restarted × multiplier by each time extension, and gives up first', async () => {
    const gaveUp: [number, number][] = [];
    const wait = new AnswerWait(command, { timeoutMs: 100 }, (slot, seq) =>
      gaveUp.push([slot, seq]),
    );
    wait.start();
    vi.advanceTimersByTime(99);
    wait.onTimeExtension(3); // now 300 ms from here
    vi.advanceTimersByTime(299);
    expect(gaveUp).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(gaveUp).toEqual([[1, 7]]);
    await expect(wait.answer).rejects.toMatchObject({
      code: 'CCID_TIMEOUT',
      message: expect.stringContaining('no answer to GetSlotStatus within 300 ms'),
    });
  });

  it('keeps its deadline on the monotonic clock: a wall-clock step moves no timeout', () => {
    const gaveUp: number[] = [];
    const watchdog = new DeadlineWatchdog();
    const first = new AnswerWait(
      command,
      { timeoutMs: 100 },
      (_, seq) => gaveUp.push(seq),
      watchdog,
    );
    const second = new AnswerWait(
      { ...command, seq: 8 },
      { timeoutMs: 5000 },
      (_, seq) => gaveUp.push(seq),
      watchdog,
    );
    first.start();
    second.start();
    vi.setSystemTime(Date.now() + 3_600_000); // the user (or NTP) sets the clock an hour ahead
    vi.advanceTimersByTime(100);
    expect(gaveUp).toEqual([7]); // the first is due; the second is not, whatever Date says
    vi.setSystemTime(Date.now() - 7_200_000); // and back
    vi.advanceTimersByTime(4899);
    expect(gaveUp).toEqual([7]);
    vi.advanceTimersByTime(1);
    expect(gaveUp).toEqual([7, 8]);
  });

  it('bounds time extensions', async () => {
    const wait = new AnswerWait(command, { timeoutMs: 100, maxTimeExtensions: 2 }, () => undefined);
    wait.start();
    wait.onTimeExtension(1);
    wait.onTimeExtension(1);
    wait.onTimeExtension(1);
    await expect(wait.answer).rejects.toMatchObject({
      code: 'CCID_TIMEOUT',
      message: expect.stringContaining('more than 2 time extensions'),
    });
  });

  it('fails with CCID_ABORTED when the signal fires, and lets go of timer and signal once disposed', async () => {
    const ac = new AbortController();
    const gaveUp: number[] = [];
    const wait = new AnswerWait(command, { timeoutMs: 100, signal: ac.signal }, (_, seq) =>
      gaveUp.push(seq),
    );
    wait.start();
    ac.abort(new Error('stop'));
    await expect(wait.answer).rejects.toMatchObject({ code: 'CCID_ABORTED' });
    expect(gaveUp).toEqual([7]);
    wait.dispose();

    const other = new AbortController();
    const settled = new AnswerWait(command, { timeoutMs: 100, signal: other.signal }, (_, seq) =>
      gaveUp.push(seq),
    );
    settled.start();
    settled.resolve(response);
    settled.dispose();
    other.abort();
    vi.advanceTimersByTime(1000);
    expect(gaveUp).toEqual([7]);
    await expect(settled.answer).resolves.toBe(response);
  });

  it('a rejection nobody awaits is handled', () => {
    const wait = new AnswerWait(command, { timeoutMs: 100 }, () => undefined);
    wait.reject(new Error('reader closed'));
    vi.advanceTimersByTime(0);
  });

  it('waits sharing a watchdog: one timer for back-to-back waits, each times out at its own deadline', async () => {
    const setTimeoutSpy = vi.spyOn(globalThis, 'setTimeout');
    const clearTimeoutSpy = vi.spyOn(globalThis, 'clearTimeout');
    const watchdog = new DeadlineWatchdog();
    const gaveUp: number[] = [];
    const onGiveUp = (_: number, seq: number): number => gaveUp.push(seq);
    for (let seq = 0; seq < 100; seq++) {
      const w = new AnswerWait({ ...command, seq }, { timeoutMs: 1000 }, onGiveUp, watchdog);
      w.start();
      vi.advanceTimersByTime(3);
      w.resolve({ ...response, seq } as CcidResponse);
      w.dispose();
      await expect(w.answer).resolves.toMatchObject({ seq });
    }
    expect(setTimeoutSpy).toHaveBeenCalledTimes(1);
    expect(clearTimeoutSpy).not.toHaveBeenCalled();
    expect(watchdog.watching).toBe(0);
    // 300 ms in: a wait of 1000 ms started now times out at 1300, not at the armed 1000.
    const ac = new AbortController();
    const late = new AnswerWait({ ...command, seq: 200 }, { timeoutMs: 1000 }, onGiveUp, watchdog);
    const aborted = new AnswerWait(
      { ...command, slot: 2, seq: 201 },
      { timeoutMs: 1000, signal: ac.signal },
      onGiveUp,
      watchdog,
    );
    late.start();
    aborted.start();
    ac.abort();
    await expect(aborted.answer).rejects.toMatchObject({ code: 'CCID_ABORTED' });
    aborted.dispose();
    expect(watchdog.watching).toBe(1);
    vi.advanceTimersByTime(999);
    expect(gaveUp).toEqual([201]);
    vi.advanceTimersByTime(1);
    expect(gaveUp).toEqual([201, 200]);
    await expect(late.answer).rejects.toMatchObject({ code: 'CCID_TIMEOUT' });
    late.dispose();
    expect(vi.getTimerCount()).toBe(0);
    setTimeoutSpy.mockRestore();
    clearTimeoutSpy.mockRestore();
  });
});
