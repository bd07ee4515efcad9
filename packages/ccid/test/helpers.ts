import type { ReaderProfile, VirtualCard } from '@cardlend/card-sim';
import { SimulatedReader, createT0Card, createT1Card, readerProfiles } from '@cardlend/card-sim';
import type { FaultPlan } from '@cardlend/card-sim';
import type { CcidReader } from '../src/webusb/index.ts';
import { vi } from 'vitest';
import { encodeApdu } from '../src/core/index.ts';
import { openReader } from '../src/webusb/index.ts';

export const profiles: ReaderProfile[] = Object.values(readerProfiles) as ReaderProfile[];

export function cardsFor(
  profile: ReaderProfile,
): { name: string; protocol: 0 | 1; make: () => VirtualCard }[] {
  const out: { name: string; protocol: 0 | 1; make: () => VirtualCard }[] = [];
  if (profile.protocols & 1) out.push({ name: 'T=0', protocol: 0, make: () => createT0Card() });
  if (profile.protocols & 2)
    out.push({ name: 'T=1', protocol: 1, make: () => createT1Card({ ifsc: 32 }) });
  return out;
}

export async function setup(
  profile: ReaderProfile,
  card: VirtualCard | undefined,
  opts: { faults?: FaultPlan; timeoutMs?: number; slot?: number } = {},
): Promise<{ sim: SimulatedReader; reader: CcidReader }> {
  const sim = new SimulatedReader({ profile, ...(opts.faults ? { faults: opts.faults } : {}) });
  if (card) sim.insertCard(card, opts.slot ?? 0);
  const reader = await openReader(sim.device, {
    isBrowserBlockingProtectedClasses: false,
    timeoutMs: opts.timeoutMs ?? 300,
    powerOnTimeoutMs: opts.timeoutMs ?? 300,
    pollIntervalMs: 20,
  });
  return { sim, reader };
}

/** The loopback card's ECHO (INS 30): it answers `data` (cut to `ne`) and 9000. */
export const echoApdu = (data: Uint8Array, ne: number): Uint8Array =>
  encodeApdu({ cla: 0, ins: 0x30, p1: 0, p2: 0, data, ne });

/** Hex for readable failures. */
export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/**
 * Runs `p` to completion on Vitest's fake clock (install it with
 * `vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date', 'performance'] })`; the answer timeouts
 * are deadlines on performance.now()): lets every ready task run, and only then moves the clock to the
 * next timer. Rejects with a 'hang' error when `p` is still
 * pending with nothing left to run and no timer that could wake it.
 */
export async function settle<T>(p: Promise<T>): Promise<T> {
  let isDone = false;
  p.then(
    () => (isDone = true),
    () => (isDone = true),
  );
  for (;;) {
    await new Promise<void>((r) => setImmediate(r));
    if (isDone) return await p;
    if (vi.getTimerCount() === 0) throw new Error('hang: pending with no timer left');
    vi.advanceTimersToNextTimer();
  }
}
