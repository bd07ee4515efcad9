/**
 * The vocabulary of the client session (session.ts): the actions it asks its owner to take,
 * the events it reports, its states and options.
 */
import type { VscardMessage } from './codec.ts';

/** What the owner of a session must do. */
export type SessionAction =
  /** Write `bytes` (the encoding of `message`) to the host, in action order. */
  | { type: 'send'; message: VscardMessage; bytes: Uint8Array }
  /** A guest command to run on the card and answer with `answerApdu(id, …)`. */
  | { type: 'apdu'; id: number; apdu: Uint8Array }
  | { type: 'event'; event: SessionEvent }
  /** Call `tick()` at `atMs` (replaces any earlier timer). */
  | { type: 'arm-timer'; atMs: number }
  /** Close the connection; the session is over. */
  | { type: 'close'; reason: string };

/** Control requests that expect a reply from the host (§6 rule 1). */
export type ControlRequestKind = 'Init' | 'ReaderAdd' | 'ATR' | 'CardRemove' | 'ReaderRemove';

/** Things the owner may want to show or log. */
export type SessionEvent =
  | { kind: 'reader-added' }
  /** ReaderAdd refused (QEMU never does; spice-server may send code 2); the session closes. */
  | { kind: 'reader-refused'; code: number }
  | { kind: 'atr-accepted' }
  /** The host refused the ATR (QEMU: Error 1, §3.1); the session then sends CardRemove (§6 rule 6). The user must be told. */
  | { kind: 'atr-refused'; code: number }
  | { kind: 'card-removed' }
  | { kind: 'reader-removed' }
  /** CardRemove or ReaderRemove answered with a non-zero code; treated as done. */
  | { kind: 'request-refused'; request: ControlRequestKind; code: number }
  /** An Init from the host (a reply, or unsolicited at device creation, §5); needs no answer. */
  | { kind: 'host-init'; version: number }
  | { kind: 'ack-timeout'; waitingFor: string }
  | { kind: 'closed' }
  /** An answer for a guest command that the host already flushed (§6 rule 5) was not sent. */
  | { kind: 'stale-answer-dropped'; id: number }
  /** A guest command arrived while an ATR/CardRemove/ReaderRemove was on its way: the host flushes it itself, so it is not surfaced. */
  | { kind: 'guest-command-flushed' }
  /** A guest command arrived while no card of ours is inserted (QEMU still shows an earlier session's card): answered with VSC_Error. */
  | { kind: 'guest-command-refused' }
  /** A message a host should not send here (e.g. an Error with no request in flight); ignored. */
  | { kind: 'unexpected-message'; message: VscardMessage }
  /** 2010 draft hosts only: the host asks the client to reconnect (§2.6). Not acted upon. */
  | { kind: 'reconnect-requested'; ip: number; port: number };

/** Session state as the owner sees it; changes on the host's acknowledgements. */
export type SessionState = 'idle' | 'connected' | 'reader' | 'card' | 'closing' | 'closed';

/** Options of {@link VscardClientSession}. */
export interface SessionOptions {
  /** Reader name sent in ReaderAdd (UTF-8, ignored by QEMU); default `''` (no payload). */
  readerName?: string;
  /** How long to wait for a control reply before giving up, in ms; default 2000 (§6: replies take milliseconds). */
  ackTimeoutMs?: number;
  /** Send Init first (never waiting for the host's); default true. */
  sendInit?: boolean;
  /**
   * Longest APDU answer accepted by `answerApdu`, bytes; default 374 (what QEMU delivers, §4).
   * Up to 65 524 when the relay splits long answers itself (subprotocol
   * `cardlend.vscard.v1.long-answers`, relay-answer-splitter.ts).
   */
  maxAnswerBytes?: number;
}

/** An answer to a guest command: response bytes (data + SW1 SW2, ≤ 374) or a failure. */
export type ApduAnswer = Uint8Array | { errorCode: number };
