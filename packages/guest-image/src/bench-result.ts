/** Reading the `bench` scenario's RESULT marker. */
import { GuestImageError } from './errors.ts';
import type { GuestRunResult } from './boot-guest.ts';

/** APDU round trips measured inside the guest (pcscd: SCardTransmit's APDU log → SW log), µs. */
export interface GuestBenchResult {
  count: number;
  p50Us: number;
  p99Us: number;
  minUs: number;
  maxUs: number;
}

/**
 * Extracts the guest-measured round trips from a `bench` run.
 * @throws GuestImageError GUEST_QEMU_FAILED when the run has no successful bench result.
 */
export function benchResult(run: Pick<GuestRunResult, 'results'>): GuestBenchResult {
  const m = run.results.find((r) => r.fields['name'] === 'bench' && r.fields['ok'] === '1');
  if (!m)
    throw new GuestImageError('GUEST_QEMU_FAILED', 'the guest printed no successful bench result');
  const n = (k: string): number => Number(m.fields[k]);
  return {
    count: n('count'),
    p50Us: n('p50us'),
    p99Us: n('p99us'),
    minUs: n('minus'),
    maxUs: n('maxus'),
  };
}
