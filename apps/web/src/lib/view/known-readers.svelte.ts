/** "Use <reader> again": the readers this page was allowed before, as reactive state. */
import {
  answerNextChooserWith,
  listKnownReaders,
  type KnownReader,
} from '../adapters/known-readers.ts';

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

  /** Run `choose` (which asks for a device once) with `reader` as the answer, without the chooser. */
  async open(reader: KnownReader, choose: () => Promise<void>): Promise<void> {
    if (this.#usb === undefined) return choose();
    const restore = answerNextChooserWith(this.#usb, reader.device);
    try {
      await choose();
    } finally {
      restore();
    }
  }
}
