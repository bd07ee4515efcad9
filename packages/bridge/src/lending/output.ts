/**
 * The lending machine's output side: the state snapshot, the actions of the input being
 * handled, the clock of that input, and the bookkeeping of reader calls (each gets an id;
 * its result comes back with it). Pure.
 */
import type { ReaderCall, StatePatch } from './core.ts';
import type { BridgeLogEvent, BridgeState, LendingAction, ReaderResult } from './types.ts';

/** Base of LendingMachine: see the module comment. */
export class MachineOutput {
  #state: BridgeState = Object.freeze({ link: 'idle', card: null, error: null });
  #out: LendingAction[] = [];
  #nowMs = 0;
  readonly #readerCalls = new Map<number, (result: ReaderResult) => void>();
  #nextReaderCall = 0;

  /** Current state snapshot (a new frozen object after every change). */
  get state(): BridgeState {
    return this.#state;
  }

  /** The clock of the input being handled. */
  get nowMs(): number {
    return this.#nowMs;
  }

  emit(action: LendingAction): void {
    this.#out.push(action);
  }

  log(level: BridgeLogEvent['level'], message: string, data?: Record<string, unknown>): void {
    this.emit({
      type: 'log',
      event: data === undefined ? { level, message } : { level, message, data },
    });
  }

  /** Applies a change; an optional field given as `undefined` is removed. */
  setState(patch: StatePatch): void {
    const next: BridgeState = {
      link: patch.link ?? this.#state.link,
      card: patch.card === undefined ? this.#state.card : patch.card,
      error: patch.error === undefined ? this.#state.error : patch.error,
    };
    for (const key of ['closeCode', 'reconnectAttempt', 'nextRetryAtMs'] as const) {
      const value = key in patch ? patch[key] : this.#state[key];
      if (value !== undefined) next[key] = value;
    }
    const resume = 'resume' in patch ? patch.resume : this.#state.resume;
    if (resume !== undefined) next.resume = resume;
    const relayNotice = 'relayNotice' in patch ? patch.relayNotice : this.#state.relayNotice;
    if (relayNotice !== undefined) next.relayNotice = relayNotice;
    const powerOnRetry = 'powerOnRetry' in patch ? patch.powerOnRetry : this.#state.powerOnRetry;
    if (powerOnRetry !== undefined) next.powerOnRetry = powerOnRetry;
    this.#state = Object.freeze(next);
    this.emit({ type: 'state', state: this.#state });
  }

  /** Asks for a reader call; `onDone` gets its result. */
  callReader(call: ReaderCall, onDone: (result: ReaderResult) => void): void {
    const id = ++this.#nextReaderCall;
    this.#readerCalls.set(id, onDone);
    this.emit({ type: 'reader', request: { ...call, id } });
  }

  /** Runs one input at `nowMs` and returns the actions it produced. */
  protected input(nowMs: number, body: () => void): LendingAction[] {
    // Nothing is emitted between inputs (were it, it is dropped): no fresh array per input.
    if (this.#out.length > 0) this.#out = [];
    this.#nowMs = nowMs;
    body();
    const out = this.#out;
    this.#out = [];
    return out;
  }

  /** Hands the result of reader call `id` to whoever asked for it. */
  protected readerCallDone(id: number, result: ReaderResult): void {
    const onDone = this.#readerCalls.get(id);
    this.#readerCalls.delete(id);
    onDone?.(result);
  }
}
