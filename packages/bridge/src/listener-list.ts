/**
 * Subscribers to one kind of bridge notification. The array is replaced on every change, never
 * changed in place, so a notification walks the subscribers of its moment without copying them
 * (one runs for every guest command): one added meanwhile waits for the next notification, one
 * removed meanwhile still gets this one, as with a copy of a Set.
 */
export class ListenerList<T> {
  #list: readonly ((value: T) => void)[] = [];

  /** Subscribes `listener` (once, however often it is added); returns the unsubscribe function. */
  add(listener: (value: T) => void): () => void {
    if (!this.#list.includes(listener)) this.#list = [...this.#list, listener];
    return () => {
      this.#list = this.#list.filter((l) => l !== listener);
    };
  }

  /** The subscribers now, oldest first (an array that is never changed). */
  get current(): readonly ((value: T) => void)[] {
    return this.#list;
  }
}
