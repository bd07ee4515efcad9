/**
 * A ReaderService in memory for the helper's tests: named readers that are the bridge's
 * in-memory reference reader (`MemorySlot` of @cardlend/bridge/conformance), holding the
 * conformance card (ECHO/STATUS), with the controls of a conformance harness (insert, remove,
 * unplug, hold an answer). Each `open` returns a reader object like PcscReader's: one call at
 * a time, late answers dropped, asynchronous events, `close()`; a reader that is gone fails
 * with PC/SC's SCARD_E_UNKNOWN_READER as its source, as PcscReader's does.
 */
import { MEMORY_ATR, MemoryReaderError, MemorySlot } from '@cardlend/bridge/conformance';
import type { OpenedReader, ReaderService } from '../../src/ports.ts';
import type { ReaderSummary } from '../../src/reader-choice.ts';

const UNKNOWN_READER = 'SCARD_E_UNKNOWN_READER';

/** A named memory reader, with or without the card in it. */
export function memorySlot(name: string, withCard: boolean, answerTimeoutMs?: number): MemorySlot {
  return new MemorySlot({
    name,
    withCard,
    goneSourceCode: UNKNOWN_READER,
    ...(answerTimeoutMs === undefined ? {} : { answerTimeoutMs }),
  });
}

/** A service over `slots`. */
export function memoryService(slots: readonly MemorySlot[]): ReaderService & { closed: boolean } {
  const service = {
    closed: false,
    onServiceEvent: () => () => undefined,
    list: async (): Promise<ReaderSummary[]> =>
      slots
        .filter((s) => !s.isGone)
        .map((s) => ({
          name: s.name,
          state: s.isCardIn ? 'present' : 'empty',
          atr: s.isCardIn ? MEMORY_ATR.slice() : null,
        })),
    open: async (name: string): Promise<OpenedReader> => {
      const slot = slots.find((s) => s.name === name && !s.isGone);
      if (slot === undefined) throw new MemoryReaderError('CCID_READER_GONE', UNKNOWN_READER);
      return slot.open();
    },
    close: async () => {
      service.closed = true;
    },
  };
  return service;
}
