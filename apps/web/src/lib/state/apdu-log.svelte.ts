/** The live APDU view's rows; keeps at most `maxEntries` (oldest dropped first). */
import { toLogRow, type LogRow } from './apdu-log.ts';
import type { ApduRecord } from './ports.ts';

export class ApduLog {
  #rows = $state<LogRow[]>([]);
  #dropped = $state(0);
  readonly #maxEntries: number;

  /** @param opts.maxEntries rows kept (default 500). */
  constructor(opts: { maxEntries?: number } = {}) {
    this.#maxEntries = opts.maxEntries ?? 500;
  }

  /** Rows, oldest first. */
  get rows(): readonly LogRow[] {
    return this.#rows;
  }

  /** How many older rows were dropped to respect the limit. */
  get dropped(): number {
    return this.#dropped;
  }

  add(e: ApduRecord, atEpochMs: number): void {
    const row = toLogRow(e, atEpochMs);
    const overflow = this.#rows.length + 1 - this.#maxEntries;
    if (overflow > 0) {
      this.#rows = [...this.#rows.slice(overflow), row];
      this.#dropped += overflow;
    } else {
      this.#rows.push(row);
    }
  }

  clear(): void {
    this.#rows = [];
    this.#dropped = 0;
  }
}
