/**
 * The APDU log: every row the page keeps (for the export), plus the live view's snapshot.
 *
 * The view is refreshed at most every {@link VIEW_REFRESH_MS} (on an animation frame) and
 * shows only the newest `maxShown` rows. A guest can send hundreds of APDUs a second; re-rendering the table on
 * each one kept the renderer's main thread busy (Svelte update, style, layout, paint) exactly
 * when the next WebSocket message was due, which added milliseconds to every APDU.
 *
 * While the guest streams commands (more than `busyRows` new rows in one refresh) the view
 * shows only the newest `busyShown` rows, refreshed every {@link BUSY_REFRESH_MS}: a refresh
 * then builds and paints at most that many, not a whole table of `maxShown` whose rows all move,
 * and a quarter as often (the table box shows about ten rows, and rows arrive faster than anyone
 * reads them). In a Chromium trace of 3,000 guest APDUs the 200-row refresh took ~20 ms of the
 * renderer's main thread (50 rows ~12 ms, 20 rows ~6 ms) and was the task most of the slowest
 * APDUs waited behind (issue 11 §3). The first refresh that finds at most `busyRows` new rows
 * shows `maxShown` again; one is scheduled for that while the view is trimmed.
 */
import { pinWarningOf, toLogRow, type LogRow, type PinWarning } from './apdu-log.ts';
import type { ApduRecord } from './ports.ts';

/** What the live table shows. */
export interface LogView {
  /** Newest first, at most `maxShown` rows. */
  rows: readonly LogRow[];
  /** Rows the log holds (what the export contains). */
  total: number;
  /** Rows that are not in `rows`: older than the shown ones or dropped from the log. */
  hidden: number;
}

/**
 * Runs `flush` once, `delayMs` later (default: on the next animation frame after that; the
 * delay is {@link VIEW_REFRESH_MS}, or {@link BUSY_REFRESH_MS} while the view is trimmed).
 */
export type ScheduleFlush = (flush: () => void, delayMs: number) => void;

/**
 * Least time between two refreshes of the live view, ms. Even coalesced to one per frame, a
 * refresh of a few hundred table rows took a whole frame (~16 ms: layout, paint, software
 * raster) of the renderer's main thread in a Chromium trace, so the view updates a few times
 * a second instead.
 */
export const VIEW_REFRESH_MS = 250;

/**
 * Least time between two refreshes while the guest streams commands (the view is trimmed), ms:
 * rows then arrive faster than anyone reads them, and each refresh is a main-thread task that
 * the next guest command may have to wait behind.
 */
export const BUSY_REFRESH_MS = 1000;

const EMPTY_VIEW: LogView = { rows: [], total: 0, hidden: 0 };

function later(flush: () => void, delayMs: number): void {
  setTimeout(() => {
    if (typeof requestAnimationFrame === 'function') requestAnimationFrame(() => flush());
    else flush();
  }, delayMs);
}

export class ApduLog {
  /** Every kept row, oldest first; not reactive (read on export, never rendered whole). */
  readonly #rows: LogRow[] = [];
  #dropped = 0;
  #view = $state.raw<LogView>(EMPTY_VIEW);
  #pinWarning = $state.raw<PinWarning | null>(null);
  #isFlushPending = false;
  /** Bumped by clear() so a flush scheduled before it does nothing stale. */
  #generation = 0;
  readonly #maxEntries: number;
  readonly #maxShown: number;
  readonly #busyRows: number;
  readonly #busyShown: number;
  readonly #schedule: ScheduleFlush;
  /** Rows added since the last refresh. */
  #addedSinceFlush = 0;
  /** The view shows `busyShown` rows (the guest is streaming commands). */
  #isTrimmed = false;

  /**
   * @param opts.maxEntries rows kept for the export (default 500, oldest dropped first).
   * @param opts.maxShown rows the live view shows (default 200, ≤ maxEntries).
   * @param opts.busyRows more new rows than this in one refresh trim the view (default 25).
   * @param opts.busyShown rows the trimmed view shows (default 20, ≤ maxShown).
   * @param opts.schedule when to refresh the view (default: after VIEW_REFRESH_MS, on a frame).
   */
  constructor(
    opts: {
      maxEntries?: number;
      maxShown?: number;
      busyRows?: number;
      busyShown?: number;
      schedule?: ScheduleFlush;
    } = {},
  ) {
    this.#maxEntries = Math.max(1, opts.maxEntries ?? 500);
    this.#maxShown = Math.min(this.#maxEntries, Math.max(1, opts.maxShown ?? 200));
    this.#busyRows = Math.max(0, opts.busyRows ?? 25);
    this.#busyShown = Math.min(this.#maxShown, Math.max(1, opts.busyShown ?? 20));
    this.#schedule = opts.schedule ?? later;
  }

  /** Every kept row, oldest first (up to date at once; not reactive). */
  get rows(): readonly LogRow[] {
    return this.#rows;
  }

  /** How many older rows were dropped to respect the limit (up to date at once; not reactive). */
  get dropped(): number {
    return this.#dropped;
  }

  /** The live view (reactive; refreshed at most once per scheduled flush). */
  get view(): LogView {
    return this.#view;
  }

  /**
   * The last PIN entry's failure (wrong PIN with the tries left, or blocked), until a PIN is
   * accepted or the log is cleared (reactive, at once: it is rare and shown beside the status).
   */
  get pinWarning(): PinWarning | null {
    return this.#pinWarning;
  }

  add(e: ApduRecord, atEpochMs: number): void {
    const row = toLogRow(e, atEpochMs);
    this.#rows.push(row);
    this.#addedSinceFlush++;
    this.#notePin(row);
    // One row in, one out once full: shift() moves the array's start (V8 trims its store in
    // place); splice(0, 1) copied all `maxEntries` rows down, for every guest command.
    if (this.#rows.length > this.#maxEntries) {
      this.#rows.shift();
      this.#dropped++;
    }
    this.#scheduleFlush();
  }

  #scheduleFlush(): void {
    if (this.#isFlushPending) return;
    this.#isFlushPending = true;
    const generation = this.#generation;
    this.#schedule(
      () => {
        if (generation !== this.#generation) return;
        this.#isFlushPending = false;
        this.#flush();
      },
      this.#isTrimmed ? BUSY_REFRESH_MS : VIEW_REFRESH_MS,
    );
  }

  #notePin(row: LogRow): void {
    if (row.pinUse !== 'pin' || row.name !== 'VERIFY') return;
    const warning = pinWarningOf(row);
    if (warning !== null) this.#pinWarning = warning;
    else if (row.sw === 0x9000) this.#pinWarning = null;
  }

  clear(): void {
    this.#pinWarning = null;
    this.#rows.length = 0;
    this.#dropped = 0;
    this.#generation++;
    this.#isFlushPending = false;
    this.#addedSinceFlush = 0;
    this.#isTrimmed = false;
    this.#view = EMPTY_VIEW;
  }

  #flush(): void {
    const added = this.#addedSinceFlush;
    this.#addedSinceFlush = 0;
    this.#isTrimmed = added > this.#busyRows;
    const limit = this.#isTrimmed ? this.#busyShown : this.#maxShown;
    const shown = this.#rows.slice(-limit).reverse();
    this.#view = {
      rows: shown,
      total: this.#rows.length,
      hidden: this.#dropped + this.#rows.length - shown.length,
    };
    // A trimmed view comes back whole at the first refresh that finds few new rows.
    if (this.#isTrimmed) this.#scheduleFlush();
  }
}
