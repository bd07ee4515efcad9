/**
 * The transport's answer timeouts are kept by one lazy watchdog timer (deadline-watchdog.ts):
 * driven end to end (openReader → CcidReader → CcidTransport) against the replayed reader, on
 * Vitest's fake clock.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { encodeResponse } from '../src/core/index.ts';
import type { CcidLogEntry, CcidReader } from '../src/webusb/index.ts';
import { openReader } from '../src/webusb/index.ts';
import { hex, settle } from './helpers.ts';
import { REPLAY_FCI, ReplayDevice, type ReplayAnswer } from './replay-device.ts';

const SELECT = Uint8Array.of(0x00, 0xa4, 0x04, 0x00, 0x07, 0xa0, 0, 0, 0, 0x04, 0x10, 0x10);
const FCI_OK = hex(Uint8Array.of(...REPLAY_FCI, 0x90, 0x00));
const TIMEOUT_MS = 1000;
const XFR_BLOCK = 0x6f;
const PC_TO_RDR_ABORT = 0x72;

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date', 'performance'] });
});
afterEach(() => {
  vi.restoreAllMocks();
  vi.useRealTimers();
});

/**
 * Opens the replayed reader; `tamper` rewrites chosen answers, `patch` changes the device before
 * it is opened. Logs ABORTs with their time.
 */
async function open(
  tamper?: (a: ReplayAnswer) => Uint8Array[],
  patch?: (device: USBDevice) => void,
): Promise<{
  sim: ReplayDevice;
  reader: CcidReader;
  abortsAt: number[];
}> {
  const sim = new ReplayDevice(tamper ? { tamper } : {});
  const abortsAt: number[] = [];
  const onLog = (e: CcidLogEntry): void => {
    if (e.kind === 'abort') abortsAt.push(Date.now());
  };
  const device = sim.device;
  patch?.(device);
  const reader = await settle(
    openReader(device, {
      isBrowserBlockingProtectedClasses: false,
      timeoutMs: TIMEOUT_MS,
      onLog,
    }),
  );
  await settle(reader.powerOn());
  return { sim, reader, abortsAt };
}

describe('answer timeouts: one lazy timer per transport', () => {
  it('back-to-back commands arm and clear at most one timer (the re-arm for the first deadline)', async () => {
    const { reader } = await open();
    const setTimeoutSpy = vi.spyOn(globalThis, 'setTimeout');
    const clearTimeoutSpy = vi.spyOn(globalThis, 'clearTimeout');
    for (let i = 0; i < 50; i++) {
      expect(hex(await settle(reader.transmit(SELECT)))).toBe(FCI_OK);
      vi.advanceTimersByTime(5);
    }
    // 100 commands (SELECT + GET RESPONSE each); at most the re-arm for the first one's
    // deadline, earlier than the power-on's.
    expect(setTimeoutSpy.mock.calls.length).toBeLessThanOrEqual(1);
    expect(clearTimeoutSpy.mock.calls.length).toBeLessThanOrEqual(1);
    await reader.close();
  });

  it('a command that gets no answer times out at its own deadline after earlier ones ended', async () => {
    let isHanging = false;
    const { sim, reader, abortsAt } = await open((a) =>
      isHanging && a.commandType === XFR_BLOCK ? [] : a.completions,
    );
    expect(hex(await settle(reader.transmit(SELECT)))).toBe(FCI_OK);
    vi.advanceTimersByTime(600); // the timer armed for the SELECT's deadline is still set
    isHanging = true;
    const startedAt = Date.now();
    const failed = reader.transmit(SELECT).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(TIMEOUT_MS - 1);
    expect(abortsAt).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(abortsAt).toEqual([startedAt + TIMEOUT_MS]);
    expect(await settle(failed)).toMatchObject({ code: 'CCID_TIMEOUT' });
    expect(sim.aborts).toHaveLength(1);
    isHanging = false;
    expect(hex(await settle(reader.transmit(SELECT)))).toBe(FCI_OK);
    await reader.close();
  });

  it('a time extension restarts the deadline × bError (later than the armed timer)', async () => {
    let isExtending = false;
    const { reader, abortsAt } = await open((a) => {
      if (!isExtending || a.commandType !== XFR_BLOCK) return a.completions;
      const seq = a.message[6]!;
      // Only a time-extension frame (× 3), then nothing: the reader went quiet.
      return [encodeResponse({ type: 'DataBlock', slot: 0, seq, commandStatus: 2, bError: 3 })];
    });
    isExtending = true;
    const startedAt = Date.now();
    const failed = reader.transmit(SELECT).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(3 * TIMEOUT_MS - 1);
    expect(abortsAt).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(abortsAt).toEqual([startedAt + 3 * TIMEOUT_MS]);
    expect(await settle(failed)).toMatchObject({
      code: 'CCID_TIMEOUT',
      message: expect.stringContaining(`within ${3 * TIMEOUT_MS} ms`),
    });
    await reader.close();
  });

  it('an aborted command fails at once; the other deadlines are kept', async () => {
    let isHanging = false;
    const { reader, abortsAt } = await open((a) =>
      isHanging && a.commandType === XFR_BLOCK ? [] : a.completions,
    );
    isHanging = true;
    const ac = new AbortController();
    const aborted = reader.transmit(SELECT, { signal: ac.signal }).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(100);
    ac.abort(new Error('user cancelled'));
    expect(await settle(aborted)).toMatchObject({ code: 'CCID_ABORTED' });
    expect(abortsAt).toEqual([Date.now()]);
    const startedAt = Date.now();
    const late = reader.transmit(SELECT).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(TIMEOUT_MS);
    expect(abortsAt).toEqual([startedAt, startedAt + TIMEOUT_MS]);
    expect(await settle(late)).toMatchObject({ code: 'CCID_TIMEOUT' });
    await reader.close();
  });

  it('closing with a command pending fails it with CCID_CLOSED and leaves no timer behind', async () => {
    const { reader } = await open((a) => (a.commandType === XFR_BLOCK ? [] : a.completions));
    const pending = reader.transmit(SELECT).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(10);
    expect(vi.getTimerCount()).toBe(1);
    await reader.close();
    expect(await pending).toMatchObject({ code: 'CCID_CLOSED' });
    expect(vi.getTimerCount()).toBe(0);
  });

  it('closing while the ABORT control request is out sends no PC_to_RDR_Abort and leaves no timer', async () => {
    let isHanging = false;
    let releaseAbort: (() => void) | undefined;
    const sent: number[] = [];
    const { reader, abortsAt } = await open(
      (a) => {
        sent.push(a.commandType);
        return isHanging && a.commandType === XFR_BLOCK ? [] : a.completions;
      },
      (device) => {
        const request = device.controlTransferOut.bind(device);
        // The class ABORT request stays out until the test lets it complete.
        device.controlTransferOut = async (setup, data) => {
          await new Promise<void>((r) => (releaseAbort = r));
          return await request(setup, data);
        };
      },
    );
    isHanging = true;
    const failed = reader.transmit(SELECT).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(TIMEOUT_MS);
    expect(abortsAt).toHaveLength(1);
    expect(releaseAbort).toBeDefined();
    sent.length = 0;
    await reader.close();
    releaseAbort!();
    // No clock moves from here: the ABORT ends on the closed transport without a wait of its own.
    await new Promise<void>((r) => setImmediate(r));
    expect(vi.getTimerCount()).toBe(0);
    expect(sent).not.toContain(PC_TO_RDR_ABORT);
    expect(await failed).toMatchObject({ code: 'CCID_TIMEOUT' });
  });
});
