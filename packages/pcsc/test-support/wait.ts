/**
 * Waiting for what pcscd sees, for tests: a reader's card present or absent, through a
 * PC/SC context of this process (so through the test pcscd's socket).
 */
import { isCardPresentState } from '../src/binding.ts';
import { PcscContext } from '../src/context.ts';

/** Resolves when pcscd reports `reader` with a card (`present`) or without (`absent`). */
export async function waitForCard(
  reader: string,
  want: 'present' | 'absent',
  timeoutMs = 15_000,
): Promise<void> {
  const context = new PcscContext();
  try {
    await new Promise<void>((resolve, reject) => {
      const check = (): void => {
        const state = context.readers.get(reader);
        if (state !== undefined && isCardPresentState(state.state) === (want === 'present')) {
          clearTimeout(timer);
          resolve();
        }
      };
      const timer = setTimeout(
        () =>
          reject(
            new Error(`pcscd did not report a card ${want} in "${reader}" within ${timeoutMs} ms`),
          ),
        timeoutMs,
      );
      context.onEvent(check);
      check();
    });
  } finally {
    await context.close();
  }
}

/** Polls `predicate` every 20 ms until it holds; rejects after `timeoutMs` with `what`. */
export async function waitUntil(
  predicate: () => boolean,
  what: string,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
