/**
 * The reader service on the operating system's PC/SC stack (@cardlend/pcsc): one PC/SC
 * context for listing and lending (it re-establishes itself after the service restarts).
 */
import { listReaders, openReader, PcscContext } from '@cardlend/pcsc';
import type { ReaderInfo } from '@cardlend/pcsc';
import type { ReaderService, ServiceEvent } from './ports.ts';
import type { ReaderSummary } from './reader-choice.ts';

/** A listed reader as the CLI shows it. Pure. */
export function toReaderSummary(r: ReaderInfo): ReaderSummary {
  const state: ReaderSummary['state'] =
    r.card === 'absent'
      ? 'empty'
      : r.card === 'mute'
        ? 'mute'
        : r.isExclusive || r.atrError?.code === 'CCID_DEVICE_BUSY'
          ? 'in-use'
          : 'present';
  return { name: r.name, state, atr: r.atr };
}

/**
 * How long to wait for a first reader when the settled list is empty, ms. The context counts
 * its list complete after a short quiet time; on a loaded machine the first reader report can
 * come later, and "no reader" would be a wrong answer.
 */
const EMPTY_LIST_GRACE_MS = 1500;

/** Resolves at the next reader report of `context`, or after `ms`. */
function nextReader(context: PcscContext, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    const off = context.onEvent((e) => {
      if (e.type === 'reader') done();
    });
    function done(): void {
      clearTimeout(timer);
      off();
      resolve();
    }
  });
}

/** Opens the PC/SC service. Fails with a PcscError (`SCARD_E_NO_SERVICE` when none runs). */
export async function openPcscReaders(): Promise<ReaderService> {
  const context = new PcscContext();
  try {
    await context.settled();
  } catch (e) {
    context.close();
    throw e;
  }
  return {
    list: async () => {
      if (context.readers.size === 0) await nextReader(context, EMPTY_LIST_GRACE_MS);
      return (await listReaders({ context })).map(toReaderSummary);
    },
    open: (name) => openReader(name, { context }),
    close: async () => context.close(),
    onServiceEvent: (listener) => {
      let isDown = false;
      return context.onEvent((e) => {
        let event: ServiceEvent | null = null;
        if (e.type === 'service-down' && !isDown) event = { type: 'service-down', error: e.error };
        else if (e.type === 'settled' && isDown) event = { type: 'service-back' };
        if (event === null) return;
        isDown = event.type === 'service-down';
        listener(event);
      });
    },
  };
}
