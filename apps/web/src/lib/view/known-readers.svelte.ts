/**
 * "Use <reader> again": the readers this page was allowed before, as reactive state. Opening
 * one is `LendingSession.useKnownReader(device)` (the same path as a chosen reader).
 */
import { listKnownReaders, type KnownReader } from '../adapters/known-readers.ts';

export class KnownReaders {
  #list = $state.raw<KnownReader[]>([]);
  readonly #usb: USB | undefined;

  constructor(usb: USB | undefined) {
    this.#usb = usb;
  }

  /** The reader to offer first, or null. */
  get first(): KnownReader | null {
    return this.#list[0] ?? null;
  }

  async refresh(): Promise<void> {
    this.#list = await listKnownReaders(this.#usb);
  }

  /** Refresh when a device is plugged in or out; returns the unsubscribe function. */
  watch(): () => void {
    const usb = this.#usb;
    if (usb === undefined) return () => {};
    const refresh = (): void => void this.refresh();
    usb.addEventListener('connect', refresh);
    usb.addEventListener('disconnect', refresh);
    return () => {
      usb.removeEventListener('connect', refresh);
      usb.removeEventListener('disconnect', refresh);
    };
  }
}
