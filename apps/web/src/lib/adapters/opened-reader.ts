/**
 * Any reader the bridge can lend (WebUSB or the local helper) as the page's `OpenedReader`
 * (state/ports.ts): lent through `CardBridge`, its events passed on as the page's notices.
 */
import { CardBridge } from '@cardlend/bridge';
import type { BridgeReader } from '@cardlend/bridge';
import type { OpenedReader, ReaderNotice, ReaderSummary } from '../state/ports.ts';

/** Wraps `reader`, shown as `summary`; `close` is the reader's own. */
export function openedReader(
  reader: BridgeReader & { close(): Promise<void> },
  summary: ReaderSummary,
): OpenedReader {
  return {
    summary,
    lend: ({ relayUrl, token }) =>
      new CardBridge({ reader, relayUrl, ...(token === '' ? {} : { token }) }),
    onNotice: (listener: (n: ReaderNotice) => void) =>
      reader.onEvent((e) => {
        if (e.type === 'reader-gone') listener({ type: 'reader-gone' });
        else if (e.type === 'card-inserted') listener({ type: 'card-inserted' });
        else if (e.type === 'card-removed') listener({ type: 'card-removed' });
      }),
    close: () => reader.close(),
  };
}
