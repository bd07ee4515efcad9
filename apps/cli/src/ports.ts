/**
 * What the commands need from the outside world, as small interfaces: the PC/SC readers, the
 * terminal, the process's signals and output, a clock. main.ts wires the real ones
 * (pcsc-readers.ts, terminal.ts); tests pass their own.
 */
import type { BridgeReader, CreateWebSocket } from '@cardlend/bridge';
import type { OsFamily } from '@cardlend/problems';
import type { ReaderSummary } from './reader-choice.ts';

/** A reader opened for lending; `close()` releases it (the bridge never closes it). */
export interface OpenedReader extends BridgeReader {
  close(): Promise<void>;
}

/** The smart-card service going away and coming back (pcscd restarting, Windows stopping it). */
export type ServiceEvent =
  { readonly type: 'service-down'; readonly error: unknown } | { readonly type: 'service-back' };

/** The operating system's readers (PC/SC). */
export interface ReaderService {
  /** Subscribes to service events; returns the unsubscribe function. */
  onServiceEvent(listener: (e: ServiceEvent) => void): () => void;
  /** Every reader with its card state and ATR. Rejects with an Error carrying a `code`. */
  list(): Promise<ReaderSummary[]>;
  /** Opens the reader named exactly `name` for lending. */
  open(name: string): Promise<OpenedReader>;
  /** Releases the service (PC/SC context). */
  close(): Promise<void>;
}

/** Asking the person something in the terminal. */
export interface Prompter {
  /**
   * Prints `text` (on stderr) and resolves with the answer, or `null` on Ctrl-C, end of input
   * or when `signal` aborts.
   */
  ask(text: string, signal?: AbortSignal): Promise<string | null>;
}

/** Where the command writes. `out` is stdout (data: listings, JSON events), `err` is stderr. */
export interface Output {
  out(text: string): void;
  err(text: string): void;
}

/** The process's stop signals (SIGINT, SIGTERM). */
export interface StopSignals {
  /** Calls `handler` on every stop signal (with its name); returns the unsubscribe function. */
  onStop(handler: (signal: string) => void): () => void;
}

/** Everything `cardlend` needs to run. */
export interface CliDeps {
  /** Opens the PC/SC service (lazily: `--help` and `--version` never touch it). */
  readers: () => Promise<ReaderService>;
  createWebSocket: CreateWebSocket;
  output: Output;
  /** `null` when there is no terminal to ask in (stdin or stderr not a TTY). */
  prompter: Prompter | null;
  signals: StopSignals;
  now: () => number;
  /** The operating system, for the fixes shown with a problem. */
  os: OsFamily;
}
