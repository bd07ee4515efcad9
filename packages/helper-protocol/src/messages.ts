/**
 * The messages of the helper protocol, version 1: JSON text frames over a WebSocket
 * (subprotocol `cardlend-helper.v1`). Byte strings (ATRs, APDUs) travel as lowercase hex.
 *
 * Page → helper: requests, each with a positive integer `id` the helper answers with an `ok`
 * or an `error` carrying the same id. Helper → page: `hello` first (version, approved or not),
 * answers, and unsolicited events (`pairing`, `approved`, `card`, `reader-gone`, `readers`).
 *
 * Until the page's origin is approved, the helper answers every request but `pair` with
 * `HELPER_ORIGIN_NOT_APPROVED` and sends nothing else: no reader name ever leaves it.
 */
import type { HelperErrorCode } from './codes.ts';

/**
 * Where a reader failure came from below the reader code: the PC/SC return code the
 * computer's smart-card service gave (`SCARD_E_SHARING_VIOLATION`), never renamed, so the page
 * explains it in the same words as `cardlend lend` on that computer. Optional on `error`: an
 * older page ignores it, and a page talking to an older helper gets none.
 */
export interface ErrorSource {
  readonly kind: 'pcsc';
  readonly code: string;
}

/** A card's state in a listed reader. */
export type CardState = 'absent' | 'present' | 'mute';

/** A reader as the helper lists it. */
export interface ReaderEntry {
  readonly name: string;
  readonly card: CardState;
  /** The card's ATR (hex), when the card answered. */
  readonly atr?: string;
  /** Held: by another page through this helper, or by another program of the computer. */
  readonly inUse: boolean;
}

/** Presence and power of the reader's card (the bridge's `SlotStatus`). */
export type SlotState = 'active' | 'inactive' | 'absent';

/** The requests, by type; every one also carries `id`. */
export type ClientRequest =
  /** Ask the person to approve this page's origin; answered once they did (or refused). */
  | { readonly type: 'pair' }
  | { readonly type: 'list' }
  /** Take the reader for this page (one page at a time per reader). */
  | { readonly type: 'connect'; readonly reader: string }
  | { readonly type: 'status'; readonly reader: string }
  | { readonly type: 'power-on'; readonly reader: string }
  | { readonly type: 'power-off'; readonly reader: string }
  | { readonly type: 'transmit'; readonly reader: string; readonly apdu: string }
  /** Let go of the reader (the card is reset for local programs). */
  | { readonly type: 'disconnect'; readonly reader: string };

export type ClientRequestType = ClientRequest['type'];

/** A page → helper message. */
export type ClientMessage = ClientRequest & { readonly id: number };

/** The result fields of an `ok` answer, by request type. */
export interface OkResults {
  readonly pair: { readonly approved: true };
  readonly list: { readonly readers: readonly ReaderEntry[] };
  readonly connect: Record<string, never>;
  readonly status: { readonly slot: SlotState };
  readonly 'power-on': { readonly atr: string; readonly protocol: 0 | 1 };
  readonly 'power-off': Record<string, never>;
  readonly transmit: { readonly answer: string };
  readonly disconnect: Record<string, never>;
}

/** A helper → page message. */
export type HelperMessage =
  /** First message on every connection. */
  | {
      readonly type: 'hello';
      readonly version: number;
      readonly helper: string;
      readonly approved: boolean;
    }
  /** The answer to request `id`; `result` is `OkResults[type of that request]`. */
  | { readonly type: 'ok'; readonly id: number; readonly result: OkResult }
  | {
      readonly type: 'error';
      /** The request refused, or absent for a refusal of the connection itself. */
      readonly id?: number;
      /** A {@link HelperErrorCode}, or a reader code (`CCID_*`) for a failed reader call. */
      readonly code: HelperErrorCode | `CCID_${string}`;
      readonly message: string;
      /** The PC/SC code below `code`, when the failure came from the smart-card service. */
      readonly source?: ErrorSource;
    }
  /** Pairing started: the page shows `code`, the helper's terminal shows the same. */
  | { readonly type: 'pairing'; readonly code: string }
  /** A card came or went in a reader this page holds. */
  | { readonly type: 'card'; readonly reader: string; readonly present: boolean }
  /** A reader this page holds was unplugged (or the service lost it for good). */
  | { readonly type: 'reader-gone'; readonly reader: string }
  /** The reader list changed (approved pages only); ask `list` for the names. */
  | { readonly type: 'readers-changed' };

/** Any result of an `ok` answer. */
export type OkResult = OkResults[ClientRequestType];
