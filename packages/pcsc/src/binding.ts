/**
 * PcscBinding: the small interface this package needs from a PC/SC implementation. The
 * pcsc-mini adapter (pcsc-mini-binding.ts) is the default; a test fake or another native
 * binding can replace it. Every method fails with a PcscError (errors.ts), never a raw
 * binding error.
 *
 * The model follows PC/SC itself: a context (SCardEstablishContext) watches reader states
 * (SCardGetStatusChange) and opens card handles (SCardConnect); a handle transmits, reports
 * its status, reconnects and disconnects.
 */
import type { PcscError } from './errors.ts';

/** SCARD_STATE_* bits of a reader state (identical in pcsc-lite, WinSCard and pcsc-mini). */
export const SCARD_STATE = {
  IGNORE: 0x0001,
  CHANGED: 0x0002,
  UNKNOWN: 0x0004,
  UNAVAILABLE: 0x0008,
  EMPTY: 0x0010,
  PRESENT: 0x0020,
  ATRMATCH: 0x0040,
  EXCLUSIVE: 0x0080,
  INUSE: 0x0100,
  MUTE: 0x0200,
  UNPOWERED: 0x0400,
} as const;

/** How a card handle shares the card: SCARD_SHARE_EXCLUSIVE or SCARD_SHARE_SHARED. */
export type ShareMode = 'exclusive' | 'shared';

/** What happens to the card when a handle lets go: SCARD_LEAVE_CARD, _RESET_CARD, _UNPOWER_CARD. */
export type Disposition = 'leave' | 'reset' | 'unpower';

/** A transmission protocol (T=0 or T=1). */
export type CardProtocol = 0 | 1;

/** One reader's state as the watcher reports it. */
export interface RawReaderState {
  /** The reader name as PC/SC lists it (unique among connected readers). */
  readonly name: string;
  /** SCARD_STATE_* bits (the event counter in the upper 16 bits removed). */
  readonly state: number;
  /** The card's ATR as the watcher saw it (may be empty; see the adapter's notes). */
  readonly atr: Uint8Array;
  /**
   * The reader's event counter (pcsc-lite: upper 16 bits of dwEventState), which changes on
   * every card insertion and removal; absent when the binding does not report it.
   */
  readonly events?: number;
}

/** What a context reports while it watches. */
export interface ContextListener {
  /** A reader appeared, changed, or left (`UNKNOWN`/`UNAVAILABLE` set: it is gone). */
  onReaderState(state: RawReaderState): void;
  /** The context failed (service stopped, …); it reports nothing more and must be released. */
  onError(error: PcscError): void;
}

/** Status of a card handle (SCardStatus). */
export interface CardStatus {
  readonly atr: Uint8Array;
  readonly protocol: CardProtocol;
  /** SCARD_STATE_* style card state bits are not portable; this says whether it is powered. */
  readonly isPowered: boolean;
}

/** A connected card (SCardConnect's handle). */
export interface BindingCard {
  /** The protocol negotiated at connect (or the last reconnect). */
  readonly protocol: CardProtocol;
  status(): Promise<CardStatus>;
  transmit(apdu: Uint8Array): Promise<Uint8Array>;
  /** SCardReconnect: re-open the handle after a reset (or reset the card with `init: 'reset'`). */
  reconnect(share: ShareMode, init: Disposition): Promise<CardProtocol>;
  disconnect(disposition: Disposition): Promise<void>;
}

/** An established PC/SC context that watches readers. */
export interface BindingContext {
  /** SCardConnect to the card in `reader`. `protocols`: the ones acceptable (default both). */
  connect(
    reader: string,
    share: ShareMode,
    protocols?: readonly CardProtocol[],
  ): Promise<BindingCard>;
  /**
   * Resolves once the reader changes the watch had received before the call were reported
   * (the watch may run on another thread); optional.
   */
  flushEvents?(): Promise<void>;
  /**
   * Stop watching and release the context; resolves once it is released. Idempotent; never
   * rejects. With `atProcessEnd` (see {@link ReleaseOptions}) it stops reporting and resolves
   * at once without stopping the watch, also cutting short a release still under way.
   */
  release(opts?: ReleaseOptions): Promise<void>;
}

/** Options of {@link BindingContext.release}. */
export interface ReleaseOptions {
  /**
   * The process exits right after (a command line tool's last step): report nothing more,
   * but leave the watch running and the context established; the operating system ends the
   * thread and the service drops the connection when the process exits. For a binding whose
   * stopping can block (pcsc-mini's, see pcsc-mini-binding.ts), that is the only way that
   * cannot. Card handles stay usable: let go of them (disconnect) before. Never for a
   * context closed while the process goes on: its watch would run for the rest of it.
   */
  readonly atProcessEnd?: boolean;
}

/** A PC/SC implementation. */
export interface PcscBinding {
  /**
   * Establishes a context and starts watching: every reader present is reported once soon
   * after, then every change. Throws a PcscError (`SCARD_E_NO_SERVICE` when no service runs).
   */
  establish(listener: ContextListener): BindingContext;
}

/** True when the bits say the reader is gone. */
export function isReaderGoneState(state: number): boolean {
  return (state & (SCARD_STATE.UNKNOWN | SCARD_STATE.UNAVAILABLE)) !== 0;
}

/** True when the bits say a card is in the reader. */
export function isCardPresentState(state: number): boolean {
  return (state & SCARD_STATE.PRESENT) !== 0 && !isReaderGoneState(state);
}

/** Names of the set SCARD_STATE bits, for logs (`PRESENT|INUSE`). */
export function describeReaderState(state: number): string {
  const names = Object.entries(SCARD_STATE)
    .filter(([, bit]) => (state & bit) !== 0)
    .map(([name]) => name);
  return names.length === 0 ? 'UNAWARE' : names.join('|');
}
