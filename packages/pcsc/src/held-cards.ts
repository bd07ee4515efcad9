/**
 * HeldCards: the card handles this process holds exclusively, by reader. A listing reports
 * such a card as in use without connecting (its shared connect would fail with
 * `SCARD_E_SHARING_VIOLATION`, and pcscd does not report this process's own connects as
 * reader events, so the reader state does not say it).
 */
import type { BindingCard, CardProtocol, CardStatus, Disposition, ShareMode } from './binding.ts';

/** See the module comment. */
export class HeldCards {
  readonly #held = new Map<string, Set<TrackedCard>>();

  /** `card` was just connected with `share`; returns the handle to use instead of it. */
  track(reader: string, share: ShareMode, card: BindingCard): BindingCard {
    return new TrackedCard(card, share, (tracked, isHeld) => {
      const set = this.#held.get(reader) ?? new Set<TrackedCard>();
      if (isHeld) set.add(tracked);
      else set.delete(tracked);
      if (set.size === 0) this.#held.delete(reader);
      else this.#held.set(reader, set);
    });
  }

  /** True while this process holds the card in `reader` exclusively. */
  isHeldExclusively(reader: string): boolean {
    return this.#held.has(reader);
  }

  /** The context was lost: its handles hold nothing any more. */
  clear(): void {
    this.#held.clear();
  }
}

type OnHeld = (card: TrackedCard, isHeld: boolean) => void;

/** A handle that reports whether it holds the card exclusively; calls go to `inner`. */
class TrackedCard implements BindingCard {
  readonly #inner: BindingCard;
  readonly #onHeld: OnHeld;

  constructor(inner: BindingCard, share: ShareMode, onHeld: OnHeld) {
    this.#inner = inner;
    this.#onHeld = onHeld;
    onHeld(this, share === 'exclusive');
  }

  get protocol(): CardProtocol {
    return this.#inner.protocol;
  }

  status(): Promise<CardStatus> {
    return this.#inner.status();
  }

  transmit(apdu: Uint8Array): Promise<Uint8Array> {
    return this.#inner.transmit(apdu);
  }

  async reconnect(share: ShareMode, init: Disposition): Promise<CardProtocol> {
    const protocol = await this.#inner.reconnect(share, init);
    this.#onHeld(this, share === 'exclusive');
    return protocol;
  }

  async disconnect(disposition: Disposition): Promise<void> {
    try {
      await this.#inner.disconnect(disposition);
    } finally {
      this.#onHeld(this, false);
    }
  }
}
