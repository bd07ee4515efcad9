/** Waiting for a guest's RESULT markers, with a failure that shows what the guest printed last. */
import type { GuestHandle } from './boot-guest.ts';
import { GuestImageError } from './errors.ts';
import type { GuestMarker } from './markers.ts';

/** Options of {@link waitForResult}. */
export interface WaitForResultOptions {
  /** Which RESULT called `name` (1-based); default the first. */
  readonly n?: number;
  readonly timeoutMs: number;
  /** What the caller is waiting for, said first in the error. */
  readonly what?: string;
}

/**
 * The `n`th RESULT marker called `name`, once the guest has printed it.
 * @throws GuestImageError GUEST_TIMEOUT naming `what` and the guest's last five markers, when
 * it does not come within `timeoutMs` or the guest ends first (the cause says which).
 */
export async function waitForResult(
  guest: GuestHandle,
  name: string,
  { n = 1, timeoutMs, what = 'waiting for the guest' }: WaitForResultOptions,
): Promise<GuestMarker> {
  const isNamed = (m: GuestMarker): boolean => m.kind === 'RESULT' && m.fields['name'] === name;
  const seen = (): GuestMarker[] => guest.markers.filter(isNamed);
  await guest
    .waitForMarker(() => seen().length >= n, timeoutMs)
    .catch((cause: unknown) => {
      const last = guest.markers.slice(-5).map((m) => `${m.kind} ${JSON.stringify(m.fields)}`);
      throw new GuestImageError(
        'GUEST_TIMEOUT',
        `${what}: RESULT ${name} #${n} not seen (${String(cause)}); last markers: ${last.join('; ')}`,
        { cause },
      );
    });
  return seen()[n - 1] as GuestMarker;
}
