/**
 * Tells approved pages when the reader list changes (a reader plugged or unplugged, a card
 * inserted or pulled in any reader): the service's list is read every `intervalMs` while
 * someone listens, and a change of names or card states calls `onChange`. Pages then ask
 * `list` again; unapproved pages never hear of it (their gate drops the event).
 */
import type { ReaderService } from '../ports.ts';

/** Polls the reader list (see the module comment). */
export class ReaderWatch {
  readonly #service: () => Promise<ReaderService>;
  readonly #isWanted: () => boolean;
  readonly #onChange: () => void;
  readonly #timer: ReturnType<typeof setInterval>;
  #last: string | null = null;
  #isReading = false;

  constructor(opts: {
    service: () => Promise<ReaderService>;
    isWanted: () => boolean;
    onChange: () => void;
    intervalMs: number;
  }) {
    this.#service = opts.service;
    this.#isWanted = opts.isWanted;
    this.#onChange = opts.onChange;
    this.#timer = setInterval(() => void this.#poll(), opts.intervalMs);
    this.#timer.unref();
  }

  async #poll(): Promise<void> {
    if (this.#isReading || !this.#isWanted()) return;
    this.#isReading = true;
    try {
      const list = await (await this.#service()).list();
      const now = JSON.stringify(list.map((r) => [r.name, r.state]));
      if (this.#last !== null && now !== this.#last) this.#onChange();
      this.#last = now;
    } catch {
      // the service is down: pages learn it from their own requests
    } finally {
      this.#isReading = false;
    }
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
