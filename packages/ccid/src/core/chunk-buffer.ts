/** Bytes that arrive in chunks (USB transfer completions), joined only when looked at. */
export class ChunkBuffer {
  /** Changed in place: it never leaves this object. */
  readonly #parts: Uint8Array[] = [];
  #length = 0;

  /** Bytes held. */
  get length(): number {
    return this.#length;
  }

  /** Appends a chunk (kept by reference, not copied). */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.#parts.push(chunk);
    this.#length += chunk.length;
  }

  /** Everything held, as one array (chunks are joined once, then kept joined). */
  bytes(): Uint8Array {
    if (this.#parts.length === 1) return this.#parts[0]!;
    const all = new Uint8Array(this.#length);
    let o = 0;
    for (const p of this.#parts) {
      all.set(p, o);
      o += p.length;
    }
    this.#parts.length = 0;
    this.#parts.push(all);
    return all;
  }

  /** Keeps only `rest` (a tail of {@link bytes}), or nothing. */
  keep(rest?: Uint8Array): void {
    this.#parts.length = 0;
    if (rest !== undefined && rest.length > 0) this.#parts.push(rest);
    this.#length = rest?.length ?? 0;
  }
}
