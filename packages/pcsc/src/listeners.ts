/**
 * The subscribers to one object's events (a context's, a reader's): each event goes to every
 * listener subscribed when it is emitted, and a listener that throws (a bug of its own) does
 * not stop the others nor the emitter.
 */
export class Listeners<E> {
  readonly #set = new Set<(e: E) => void>();

  /** Subscribes `listener`; returns the unsubscribe function. */
  add(listener: (e: E) => void): () => void {
    this.#set.add(listener);
    return () => this.#set.delete(listener);
  }

  emit(e: E): void {
    for (const l of [...this.#set]) {
      try {
        l(e);
      } catch {
        // A listener's bug must not stop the others.
      }
    }
  }

  clear(): void {
    this.#set.clear();
  }
}
