/**
 * A helper reader as the page's `OpenedReader` (state/ports.ts): lent through the same
 * `CardBridge` as a WebUSB reader; its summary says which route it uses.
 */
import { openedReader } from '../adapters/opened-reader.ts';
import type { OpenedReader } from '../state/ports.ts';
import type { HelperReader } from './helper-reader.ts';

/** The exchange level the page shows for a helper reader: the route, said plainly. */
export const HELPER_ROUTE = 'cardlend helper (PC/SC)';

/** Wraps `reader` for the lending session. */
export function openedHelperReader(reader: HelperReader): OpenedReader {
  return openedReader(reader, {
    name: reader.name,
    exchangeLevel: HELPER_ROUTE,
    interfaceClass: 0x0b,
    vendorId: 0,
    productId: 0,
    isVirtual: false,
    route: 'helper',
  });
}
