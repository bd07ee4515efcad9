/**
 * What a failed card call means, found out before the caller gets its error. PC/SC does not
 * always say it at once:
 * - a card pulled during a command: pcsc-lite with vpcd hands back an EMPTY answer as
 *   success, and SCardStatus still says "present" until pcscd's next presence poll (~0.4 s);
 *   so an answer shorter than a status word is checked against the card's presence for up to
 *   `presenceWaitMs`: gone → `SCARD_W_REMOVED_CARD`, else `SCARD_W_UNRESPONSIVE_CARD`;
 * - the service lost during a command (pcscd stopped; Windows stops its service when the
 *   last reader goes): whether the READER is gone is known only once a context is
 *   established again; the call waits for that, up to `serviceWaitMs`: reader missing →
 *   `SCARD_E_UNKNOWN_READER` (reader gone), else the service error.
 */
import { isCardPresentState } from './binding.ts';
import type { BindingCard } from './binding.ts';
import type { PcscContext, PcscTimers } from './context.ts';
import { isPcscError, isServiceLost, PcscError } from './errors.ts';

/** What the classification needs. */
export interface FailureDeps {
  readonly context: PcscContext;
  readonly reader: string;
  readonly timers: PcscTimers;
  /** How long to wait for pcscd to notice a pulled card, ms. */
  readonly presenceWaitMs: number;
  /** How long to wait for the service to come back, ms. */
  readonly serviceWaitMs: number;
}

const POLL_MS = 50;

function sleep(timers: PcscTimers, ms: number): Promise<void> {
  return new Promise((resolve) => timers.setTimeout(resolve, ms));
}

function isPresentInSnapshot(deps: FailureDeps): boolean {
  const state = deps.context.readers.get(deps.reader);
  return state !== undefined && isCardPresentState(state.state);
}

/**
 * An answer shorter than SW1 SW2: the card was pulled (reported once pcscd notices) or it
 * gave nothing. Resolves with the error to report.
 */
export async function classifyEmptyAnswer(
  deps: FailureDeps,
  card: BindingCard,
): Promise<PcscError> {
  const polls = Math.max(1, Math.ceil(deps.presenceWaitMs / POLL_MS));
  for (let i = 0; i < polls; i++) {
    if (!isPresentInSnapshot(deps)) return removedError(deps.reader);
    try {
      await card.status();
    } catch (e) {
      if (isPcscError(e) && isServiceLost(e)) return classifyServiceLoss(deps, e);
      return isPcscError(e) && e.code === 'CCID_CARD_ABSENT' ? e : removedError(deps.reader, e);
    }
    await sleep(deps.timers, POLL_MS);
  }
  return new PcscError('SCARD_W_UNRESPONSIVE_CARD', 'the card gave no answer', {
    reader: deps.reader,
  });
}

/**
 * The service went away during a call: waits (bounded) for a context again, then tells a
 * reader that is gone from one that is back.
 */
export async function classifyServiceLoss(deps: FailureDeps, error: PcscError): Promise<PcscError> {
  // The watch may not have noticed yet: this context is dead either way.
  deps.context.invalidate(error);
  let timer: unknown = null;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = deps.timers.setTimeout(() => resolve('timeout'), deps.serviceWaitMs);
  });
  try {
    const outcome = await Promise.race([
      deps.context.settled({ waitForService: true }).then(
        () => 'settled' as const,
        () => 'closed' as const,
      ),
      timeout,
    ]);
    if (outcome === 'settled' && !deps.context.readers.has(deps.reader)) {
      return new PcscError('SCARD_E_UNKNOWN_READER', 'the reader is gone', {
        reader: deps.reader,
        cause: error,
      });
    }
    return error;
  } finally {
    deps.timers.clearTimeout(timer);
  }
}

function removedError(reader: string, cause?: unknown): PcscError {
  return new PcscError('SCARD_W_REMOVED_CARD', 'the card was removed', {
    reader,
    ...(cause === undefined ? {} : { cause }),
  });
}
