/**
 * The reader side of the bridge: what a card reader must offer so a card in one of its slots
 * can be lent. The WebUSB `CcidReader` (@cardlend/ccid/webusb) implements it as is; a PC/SC
 * reader (pcscd) and a reader reached through a local helper implement the same shape. Every
 * implementation runs the shared conformance suite (`@cardlend/bridge/conformance`).
 *
 * Structural: any object with these members is a reader; nothing to extend or register.
 *
 * ## Slots
 * Slots are numbered from 0 (CCID bSlot; PC/SC: the reader's slot index). Every `slot`
 * parameter defaults to 0. A slot outside the reader's range is a programming error and
 * may throw `RangeError` synchronously or reject with it.
 *
 * ## Errors
 * Methods reject with an `Error` whose string `code` is one of the CCID driver's codes
 * (`CcidErrorCode` of @cardlend/ccid, see {@link ReaderErrorCode}); anything else is
 * reported as an unknown failure. The bridge maps codes with `bridgeErrorFromReader`
 * (errors.ts). Implementations not built on CCID translate their platform's errors onto
 * these codes (e.g. PC/SC `SCARD_W_REMOVED_CARD` → `CCID_CARD_ABSENT`,
 * `SCARD_E_NO_READERS_AVAILABLE`/`SCARD_E_READER_UNAVAILABLE` → `CCID_READER_GONE`,
 * `SCARD_W_RESET_CARD` → `CCID_NOT_POWERED`, `SCARD_E_SHARING_VIOLATION` → `CCID_DEVICE_BUSY`,
 * `SCARD_W_UNRESPONSIVE_CARD` → `CCID_CARD_MUTE`, `SCARD_E_TIMEOUT` → `CCID_TIMEOUT`).
 *
 * The codes that matter to the bridge, per situation:
 * - no card in the slot (at power on, or pulled during a call): `CCID_CARD_ABSENT`;
 * - `transmit` on a slot not powered (never, after `powerOff`, or after the card was pulled
 *   or reset): `CCID_NOT_POWERED` (`CCID_CARD_ABSENT` is accepted once the card is gone);
 * - the card does not answer at power on: `CCID_CARD_MUTE`;
 * - no answer in the reader's own time limit: `CCID_TIMEOUT`;
 * - the reader was unplugged (during the call, or before it): `CCID_READER_GONE`, and every
 *   later call fails the same way;
 * - the reader object was closed by its owner: `CCID_CLOSED`;
 * - another call is in flight on the slot: `CCID_BUSY` (the bridge never does that: it runs
 *   one reader call at a time per slot, see below).
 *
 * Card status words (SW1 SW2, e.g. `6A82`) are data, never errors.
 *
 * ## Calls
 * The bridge makes at most one call at a time on a reader (it queues its own); an
 * implementation need not queue and may reject overlapping calls with `CCID_BUSY`.
 *
 * ## Late answers
 * Once a call has settled, nothing that belongs to it may surface later. In particular, when
 * `transmit` has rejected (time limit, card pulled, reader reset) and the card's answer to
 * that command arrives afterwards, the implementation must drop it: the next `transmit`
 * resolves with the answer to its own command, never with the earlier one (CCID: bSeq
 * matching; PC/SC: one SCardTransmit per handle). The bridge adds its own guard on top (an
 * answer that arrives after the card changed is not sent to the guest), but cannot tell
 * whose answer a resolved `transmit` carries.
 *
 * ## Events
 * `onEvent` listeners receive {@link BridgeReaderEvent}s, asynchronously (never from inside
 * the `onEvent` call itself), in the order things happened:
 * - `card-inserted` / `card-removed` for `slot`: presence changes (a card pulled and put back
 *   between two observations gives `card-removed` then `card-inserted`). A card present
 *   when the first listener subscribes is not announced: the bridge asks `getSlotStatus`.
 *   A call that finds the slot's presence changed also emits the event (so `getSlotStatus`
 *   answering `absent` for a card seen before emits `card-removed` too).
 * - `reader-gone`: the reader was unplugged; emitted once; every call fails with
 *   `CCID_READER_GONE` from then on, and calls in flight reject with it.
 * - `hardware-error` for `slot` (CCID HardwareError, `code` = bHardwareErrorCode): the
 *   bridge treats the card as gone.
 * A listener that throws must not stop the others. Unsubscribing stops delivery at once.
 */
import type { CcidErrorCode, ReaderEvent } from '@cardlend/ccid';

/** Reader events the bridge listens to (the platform-neutral `ReaderEvent` of @cardlend/ccid). */
export type BridgeReaderEvent = ReaderEvent;

/** The codes a reader's errors carry (`error.code`); see the module comment for when. */
export type ReaderErrorCode = CcidErrorCode;

/** Presence and power of a slot: `active` powered card, `inactive` card not powered, `absent` no card. */
export type SlotStatus = 'active' | 'inactive' | 'absent';

/** A powered card: its ATR as the reader received it, and the protocol now in use. */
export interface PoweredCard {
  atr: Uint8Array;
  protocol: 0 | 1;
}

/**
 * A card reader the bridge can lend from (see the module comment for slots, errors, late
 * answers and events). The bridge never closes it: its owner does.
 */
export interface BridgeReader {
  /** Shown to the VM as the reader name unless the bridge is given one. */
  readonly info?: { readonly productName?: string };
  /**
   * Presence and power of `slot`. Does not change the card's power. Rejects with
   * `CCID_READER_GONE` / `CCID_CLOSED` / `CCID_TIMEOUT`.
   */
  getSlotStatus(slot?: number): Promise<SlotStatus>;
  /**
   * Powers the card in `slot` on (a cold reset if it was powered) and negotiates the
   * protocol. Resolves with the ATR (2..33 bytes, a fresh copy the caller may keep) and the
   * protocol. Rejects with `CCID_CARD_ABSENT` (no card), `CCID_CARD_MUTE` (no ATR),
   * `CCID_BAD_ATR` / `CCID_PROTOCOL` (unusable card), `CCID_READER_GONE`, `CCID_CLOSED`.
   */
  powerOn(slot?: number): Promise<PoweredCard>;
  /**
   * Powers the card in `slot` off; resolves also when there is no card or it was not
   * powered. Later `transmit`s reject with `CCID_NOT_POWERED`. Rejects with
   * `CCID_READER_GONE` / `CCID_CLOSED`.
   */
  powerOff(slot?: number): Promise<void>;
  /**
   * Sends one command APDU (ISO 7816-4, short or extended) to the powered card in
   * `opts.slot` and resolves with the whole response APDU, data then SW1 SW2, the transport
   * work (T=0 61xx/6Cxx, T=1 blocks, chaining) done. Rejects with `CCID_NOT_POWERED`,
   * `CCID_CARD_ABSENT` (pulled during the command), `CCID_TIMEOUT`, `CCID_BAD_APDU`,
   * `CCID_APDU_TOO_LONG`, `CCID_PROTOCOL`, `CCID_READER_GONE`, `CCID_CLOSED`. Once it has
   * rejected, the card's late answer is never returned by a later call.
   */
  transmit(apdu: Uint8Array, opts?: { slot?: number }): Promise<Uint8Array>;
  /** Subscribes to reader events; returns the unsubscribe function. */
  onEvent(listener: (e: BridgeReaderEvent) => void): () => void;
}
