/**
 * Graceful shutdown (issue 6, "Operations": on SIGTERM every VM gets its outstanding
 * commands answered, CardRemove and ReaderRemove; every browser gets close code 1001;
 * then exit). The coordinator owns the order and the deadline; each session owns how it
 * drains, through {@link Drainable}.
 *
 * Integration:
 * - The relay's Session implements `Drainable.drain(reason)`: stop reading from the
 *   browser, answer every guest command still outstanding (VSCard Error, as on browser
 *   loss), send CardRemove then ReaderRemove for an inserted card/added reader, end the
 *   TCP side, close the browser with `refusalClose('shutdown')` (1001), and resolve when
 *   both sides are closed. `abort()` (optional) destroys both sockets at once.
 * - server.ts: `const shutdown = new ShutdownCoordinator({ readiness, stopAccepting: () => { wss.close(); httpServer.close(); }, onLog })`;
 *   `const unregister = shutdown.register(session)` when a session is admitted,
 *   `unregister()` when it ends; refuse upgrades while `shutdown.isDraining`
 *   (`refusalClose('shutdown')`).
 * - main.ts: `installShutdownSignals({ coordinator: shutdown, exit: (code) => process.exit(code) })`.
 */
import type { Readiness } from './http.ts';

/** Why a session is asked to drain. */
export type DrainReason = 'shutdown';

/** What the coordinator needs from a session. */
export interface Drainable {
  /** Ends the session cleanly (see the module doc); resolves when both sides are closed. */
  drain(reason: DrainReason): Promise<void>;
  /** Ends the session at once (deadline passed). Optional. */
  abort?(): void;
}

/** What happened during a shutdown. */
export interface ShutdownReport {
  /** Sessions asked to drain. */
  readonly sessions: number;
  /** Sessions whose drain resolved before the deadline. */
  readonly drained: number;
  /** Sessions whose drain rejected (still counted done). */
  readonly failed: number;
  /** Sessions still draining at the deadline (aborted). */
  readonly aborted: number;
  readonly durationMs: number;
}

/** Diagnostics of the coordinator (the caller logs them). */
export type ShutdownLogEvent =
  | { readonly event: 'shutdown-start'; readonly sessions: number; readonly reason: DrainReason }
  | {
      readonly event: 'shutdown-error';
      readonly stage: 'stop-accepting' | 'drain' | 'abort';
      readonly error: unknown;
    }
  | ({ readonly event: 'shutdown-done' } & ShutdownReport);

/** Default bound on the whole drain, ms (Kubernetes' default grace period is 30 s). */
export const DEFAULT_SHUTDOWN_DEADLINE_MS = 10_000;

/** Options of {@link ShutdownCoordinator}. */
export interface ShutdownOptions {
  /** Stops new connections (close the listeners); must not wait for open sessions. */
  readonly stopAccepting: () => void | Promise<void>;
  /** Marked draining first, so /readyz turns 503 at once. */
  readonly readiness?: Readiness;
  /** Bound on the drain, ms; default {@link DEFAULT_SHUTDOWN_DEADLINE_MS}. */
  readonly deadlineMs?: number;
  readonly onLog?: (e: ShutdownLogEvent) => void;
  /** Clock for durations, ms; default `performance.now`. */
  readonly now?: () => number;
}

/** Orders the shutdown of the whole relay. */
export class ShutdownCoordinator {
  readonly #opts: ShutdownOptions;
  readonly #sessions = new Set<Drainable>();
  readonly #pending = new Set<Promise<void>>();
  #done: Promise<ShutdownReport> | undefined;
  #counts = { sessions: 0, drained: 0, failed: 0 };

  constructor(opts: ShutdownOptions) {
    const deadline = opts.deadlineMs ?? DEFAULT_SHUTDOWN_DEADLINE_MS;
    if (!Number.isFinite(deadline) || deadline < 0) throw new RangeError('deadlineMs must be ≥ 0');
    this.#opts = opts;
  }

  /** True once {@link shutdown} was called. */
  get isDraining(): boolean {
    return this.#done !== undefined;
  }

  /** Live sessions. */
  get size(): number {
    return this.#sessions.size;
  }

  /**
   * Tracks a session; returns the function to call when it ends (idempotent). A session
   * registered after the shutdown began is drained at once.
   */
  register(session: Drainable): () => void {
    this.#sessions.add(session);
    if (this.#done !== undefined) this.#startDrain(session, 'shutdown');
    return () => {
      this.#sessions.delete(session);
    };
  }

  /** Starts the shutdown (idempotent: later calls get the same promise). Never rejects. */
  shutdown(reason: DrainReason = 'shutdown'): Promise<ShutdownReport> {
    this.#done ??= this.#run(reason);
    return this.#done;
  }

  #startDrain(session: Drainable, reason: DrainReason): void {
    this.#counts.sessions++;
    let p: Promise<void>;
    try {
      p = Promise.resolve(session.drain(reason));
    } catch (e) {
      p = Promise.reject(e);
    }
    const tracked: Promise<void> = p
      .then(
        () => {
          this.#counts.drained++;
        },
        (error: unknown) => {
          this.#counts.failed++;
          this.#opts.onLog?.({ event: 'shutdown-error', stage: 'drain', error });
        },
      )
      .finally(() => {
        this.#pending.delete(tracked);
        this.#sessions.delete(session);
      });
    this.#pending.add(tracked);
  }

  async #run(reason: DrainReason): Promise<ShutdownReport> {
    const now = this.#opts.now ?? (() => performance.now());
    const start = now();
    this.#opts.readiness?.markDraining();
    this.#opts.onLog?.({ event: 'shutdown-start', sessions: this.#sessions.size, reason });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<'deadline'>((resolve) => {
      timer = setTimeout(
        () => resolve('deadline'),
        this.#opts.deadlineMs ?? DEFAULT_SHUTDOWN_DEADLINE_MS,
      );
    });
    try {
      await Promise.race([Promise.resolve().then(() => this.#opts.stopAccepting()), deadline]);
    } catch (error) {
      this.#opts.onLog?.({ event: 'shutdown-error', stage: 'stop-accepting', error });
    }
    for (const s of [...this.#sessions]) this.#startDrain(s, reason);
    // Sessions registered meanwhile join #pending; wait until none is left or time is up.
    let isDeadline = false;
    while (this.#pending.size > 0 && !isDeadline) {
      isDeadline =
        (await Promise.race([Promise.allSettled([...this.#pending]), deadline])) === 'deadline';
    }
    clearTimeout(timer);
    let aborted = 0;
    for (const s of [...this.#sessions]) {
      aborted++;
      try {
        s.abort?.();
      } catch (error) {
        this.#opts.onLog?.({ event: 'shutdown-error', stage: 'abort', error });
      }
      this.#sessions.delete(s);
    }
    const report: ShutdownReport = { ...this.#counts, aborted, durationMs: now() - start };
    this.#opts.onLog?.({ event: 'shutdown-done', ...report });
    return report;
  }
}

/** A process-like signal source (Node's `process`). */
export interface SignalSource {
  on(signal: NodeJS.Signals, listener: () => void): unknown;
  off(signal: NodeJS.Signals, listener: () => void): unknown;
}

/**
 * On the first SIGTERM or SIGINT: shut down, then `exit(0)` (or `exit(1)` when sessions
 * had to be aborted). A second signal exits with 1 at once. Returns an uninstaller.
 */
export function installShutdownSignals(opts: {
  readonly coordinator: ShutdownCoordinator;
  readonly exit: (code: number) => void;
  readonly signals?: readonly NodeJS.Signals[];
  readonly source?: SignalSource;
}): () => void {
  const source = opts.source ?? process;
  const signals = opts.signals ?? ['SIGTERM', 'SIGINT'];
  let isStarted = false;
  const onSignal = (): void => {
    if (isStarted) {
      opts.exit(1);
      return;
    }
    isStarted = true;
    void opts.coordinator.shutdown('shutdown').then((r) => opts.exit(r.aborted > 0 ? 1 : 0));
  };
  for (const s of signals) source.on(s, onSignal);
  return () => {
    for (const s of signals) source.off(s, onSignal);
  };
}
