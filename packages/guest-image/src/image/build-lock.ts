/** A cross-process mutex for the guest cache: `mkdir` is atomic. */
import { mkdir, rm, stat } from 'node:fs/promises';
import { GuestImageError } from '../errors.ts';

/** Stale locks (a crashed build) are broken after this long, ms. */
const LOCK_STALE_MS = 10 * 60_000;

/** Takes the lock folder `dir`, waiting while another build holds it. Returns the release function. */
export async function acquireLock(
  dir: string,
  log: (line: string) => void,
): Promise<() => Promise<void>> {
  let announced = false;
  for (;;) {
    try {
      await mkdir(dir);
      return () => rm(dir, { recursive: true, force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new GuestImageError('GUEST_TOOL_FAILED', 'cannot create the build lock', {
          cause: e,
        });
      }
      const st = await stat(dir).catch(() => undefined);
      if (st && Date.now() - st.mtimeMs > LOCK_STALE_MS) {
        await rm(dir, { recursive: true, force: true });
        continue;
      }
      if (!announced) log('waiting for another guest build to finish');
      announced = true;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}
