/**
 * The setup the relay ⇄ guest tests share: the guest image, built once per file, and cleanups
 * that run after each test, newest first (a failing one does not stop the others).
 */
import { afterEach, beforeAll } from 'vitest';
import { buildGuest, type GuestImage } from '../src/build-guest.ts';

export interface GuestFixture {
  /** The built image (from the file's beforeAll on). */
  readonly image: GuestImage;
  /** Runs `cleanup` after the current test. */
  defer(cleanup: () => Promise<void> | void): void;
}

/** Registers the hooks in the calling test file and returns the fixture they fill. */
export function useGuestFixture(): GuestFixture {
  let image: GuestImage | undefined;
  const cleanups: (() => Promise<void> | void)[] = [];
  beforeAll(async () => {
    image = await buildGuest();
  }, 300_000);
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await Promise.resolve(c()).catch(() => undefined);
  });
  return {
    get image(): GuestImage {
      if (image === undefined) throw new Error('the guest image is built in beforeAll');
      return image;
    },
    defer: (cleanup) => void cleanups.push(cleanup),
  };
}
