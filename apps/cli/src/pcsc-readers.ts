/**
 * The reader service on the operating system's PC/SC stack (@cardlend/pcsc): one PC/SC
 * context for listing and lending (it re-establishes itself after the service restarts).
 * Its close() is each command's last step before `process.exit` (cli.ts): it closes the
 * context `atProcessEnd`, which never stops pcsc-mini's watch (that stop can block the
 * process for good, and costs up to 3 s while a card is busy; @cardlend/pcsc README "Closing
 * at the end of the process"). The readers opened through it are closed before (lend.ts,
 * the helper's hub), so a lent card still gets its disposition.
 */
import { listReaders, openReader, PcscContext } from '@cardlend/pcsc';
import type { PcscContextOptions, ReaderInfo } from '@cardlend/pcsc';
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

/** Options of {@link openPcscReaders}: the context's (tests pass a fake binding), and: */
export interface PcscReadersOptions extends PcscContextOptions {
  /**
   * Whether close() is the last step of the process (default true, as in `cardlend`): the
   * context is then closed `atProcessEnd` (see the module comment). A process that goes on
   * after close() passes false (its context is stopped as usual), unless a watch running on
   * until it exits is the smaller harm: this repo's test helpers keep the default, as their
   * workers end with their pcscd.
   */
  closesAtProcessEnd?: boolean;
}

/** Opens the PC/SC service. Fails with a PcscError (`SCARD_E_NO_SERVICE` when none runs). */
export async function openPcscReaders(opts: PcscReadersOptions = {}): Promise<ReaderService> {
  const { closesAtProcessEnd = true, ...contextOptions } = opts;
  const context = new PcscContext(contextOptions);
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
    close: async () => context.close({ atProcessEnd: closesAtProcessEnd }),
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
