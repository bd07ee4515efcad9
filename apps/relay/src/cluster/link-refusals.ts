/**
 * How the link listener (link.ts) refuses without being held up by the refused: a refused
 * link is ended with `ERR <reason>\n` and destroyed if its peer has not closed within
 * {@link LINK_REFUSAL_LINGER_MS}; a burst of refusals of one kind is logged as its first line
 * and one summary line per {@link LINK_REFUSAL_WINDOW_MS} instead of a line per connection.
 * Timers are injected ({@link SessionTimers}); Node's are unref'd, so none keeps the process
 * alive.
 */
import type net from 'node:net';
import type { SessionTimers, TimerHandle } from '../session/timers.ts';

/**
 * What the link listener refuses, for the metrics (`cardlend_relay_cluster_link_refusals_total`):
 * before a signed hello, `over-cap` (more than `LINK_MAX_WAITING` waiting), `hello-refused`
 * (malformed, bad mac, stale, replayed, too long, or no token secrets here), `tls-handshake`
 * (a failed TLS handshake with `cluster.linkTls`), `tls-mismatch` (a TLS ClientHello to a
 * plain listener); after it, `not-dial-in` and `no-vm`; and `linger-expired`, a refused link
 * cut off because its peer kept it open.
 */
export const LINK_REFUSAL_KINDS = [
  'over-cap',
  'hello-refused',
  'tls-handshake',
  'tls-mismatch',
  'not-dial-in',
  'no-vm',
  'linger-expired',
] as const;

export type LinkRefusalKind = (typeof LINK_REFUSAL_KINDS)[number];

/** Longest wait for the peer of a refused link to close after `ERR <reason>\n`, ms. */
export const LINK_REFUSAL_LINGER_MS = 2000;

/** Refusals of one kind within this long after the first are counted, not logged, ms. */
export const LINK_REFUSAL_WINDOW_MS = 10_000;

/** Node's timers, unref'd: a pending linger or summary never keeps the process alive. */
export const UNREF_TIMERS: SessionTimers = {
  set: (fn, ms, arg) => setTimeout(fn, ms, arg).unref(),
  clear: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/**
 * Ends `socket` with `ERR <reason>\n` and destroys it unless its peer closes within
 * `lingerMs` (the timer is cleared on close); `onExpired` runs when the linger cut it off.
 */
export function endRefused(
  socket: net.Socket,
  reason: string,
  lingerMs: number,
  timers: SessionTimers,
  onExpired: () => void = () => {},
): void {
  if (socket.destroyed) return;
  const expire = (s: net.Socket) => {
    onExpired();
    s.destroy();
  };
  const linger = timers.set(expire, lingerMs, socket);
  socket.once('close', () => timers.clear(linger));
  socket.end(`ERR ${reason}\n`);
}

/**
 * Pure bookkeeping of one burst: the first refusal opens a window and is logged, later ones
 * are counted until the window is ended (by the caller's timer, or on close). Time enters
 * only through that timer.
 */
export class RefusalTally {
  #isOpen = false;
  #more = 0;

  /** Whether a window is open. */
  get isOpen(): boolean {
    return this.#isOpen;
  }

  /** A refusal: `first` opens a window (log it, end it later), `counted` falls into the open one. */
  note(): 'first' | 'counted' {
    if (this.#isOpen) {
      this.#more++;
      return 'counted';
    }
    this.#isOpen = true;
    this.#more = 0;
    return 'first';
  }

  /** Closes the window: the refusals counted after its first. */
  end(): number {
    const more = this.#more;
    this.#isOpen = false;
    this.#more = 0;
    return more;
  }
}

export interface CoalescedRefusalsOptions {
  /** How long a window stays open after its first refusal, ms. */
  readonly windowMs: number;
  readonly timers: SessionTimers;
  /** Writes one log line. */
  readonly emit: (line: string) => void;
  /** The summary line for `more` refusals counted in a window (at most `windowMs` long). */
  readonly summary: (more: number) => string;
}

/** Logs the first refusal of a burst at once and the rest as one summary when its window ends. */
export class CoalescedRefusals {
  readonly #o: CoalescedRefusalsOptions;
  readonly #tally = new RefusalTally();
  #timer: TimerHandle | undefined;

  constructor(opts: CoalescedRefusalsOptions) {
    this.#o = opts;
  }

  /** One refusal, with the line that describes it alone. */
  report(line: string): void {
    if (this.#tally.note() === 'counted') return;
    this.#o.emit(line);
    this.#timer = this.#o.timers.set(
      (self: CoalescedRefusals) => self.#end(),
      this.#o.windowMs,
      this,
    );
  }

  /** Logs what the open window counted so far and clears its timer: nothing is left pending. */
  close(): void {
    if (this.#timer !== undefined) this.#o.timers.clear(this.#timer);
    if (this.#tally.isOpen) this.#end();
  }

  #end(): void {
    this.#timer = undefined;
    const more = this.#tally.end();
    if (more > 0) this.#o.emit(this.#o.summary(more));
  }
}

export interface LinkRefusalLogOptions {
  readonly timers: SessionTimers;
  /** Writes one log line. */
  readonly emit: (line: string) => void;
  /** Counts a refusal (metrics): every one, logged, summed up or neither. */
  readonly count: (kind: LinkRefusalKind) => void;
}

/**
 * The link listener's refusals: each counted; those anyone can cause before a signed hello
 * logged through a {@link CoalescedRefusals} per kind and reason (a burst of one does not hide
 * another's first line), the others one line each. Reasons come from the relay's own words
 * and OpenSSL's codes, never from the peer, so the tallies stay few.
 */
export class LinkRefusalLog {
  readonly #o: LinkRefusalLogOptions;
  readonly #bursts = new Map<string, CoalescedRefusals>();

  constructor(opts: LinkRefusalLogOptions) {
    this.#o = opts;
  }

  /**
   * One refusal of `kind`. `line` describes it alone (none: counted only); with `why`, a
   * burst of the same kind and `why` is summed up as `link refused: N more in the last 10 s:
   * <why>`.
   */
  report(kind: LinkRefusalKind, line?: string, why?: string): void {
    this.#o.count(kind);
    if (line === undefined) return;
    if (why === undefined) return this.#o.emit(line);
    this.#burst(`${kind} ${why}`, why).report(line);
  }

  /** Logs every open window's count and clears its timer. */
  close(): void {
    for (const burst of this.#bursts.values()) burst.close();
  }

  #burst(key: string, why: string): CoalescedRefusals {
    let burst = this.#bursts.get(key);
    if (burst === undefined) {
      const windowS = LINK_REFUSAL_WINDOW_MS / 1000;
      burst = new CoalescedRefusals({
        windowMs: LINK_REFUSAL_WINDOW_MS,
        timers: this.#o.timers,
        emit: this.#o.emit,
        summary: (more) => `link refused: ${more} more in the last ${windowS} s: ${why}`,
      });
      this.#bursts.set(key, burst);
    }
    return burst;
  }
}
