/**
 * The reader service on the operating system's PC/SC stack (@cardlend/pcsc): one PC/SC
 * context for listing and lending (it re-establishes itself after the service restarts).
 */
import { listReaders, openReader, PcscContext } from '@cardlend/pcsc';
import type { ReaderInfo } from '@cardlend/pcsc';
import type { ReaderService } from './ports.ts';
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
    list: async () => (await listReaders({ context })).map(toReaderSummary),
    open: (name) => openReader(name, { context }),
    close: async () => context.close(),
  };
}
