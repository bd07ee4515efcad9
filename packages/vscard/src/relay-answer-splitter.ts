/**
 * Long answers split next to QEMU (issue 11 §3).
 *
 * QEMU delivers at most 374 answer bytes to the guest (vscard-protocol.md §4). Without help
 * from the relay the page splits longer answers itself (`61xx` + GET RESPONSE, long-answer.ts)
 * and every GET RESPONSE crosses the WAN: guest → relay → page → relay → guest. When the page
 * and the relay agree on the long-answers subprotocol (`RELAY_SUBPROTOCOL_LONG_ANSWERS`,
 * relay-close.ts), the page sends each answer whole (up to 65 524 bytes, one message) and the
 * relay splits it here and answers the guest's GET RESPONSEs from its buffer: no WAN round
 * trip for any of them.
 *
 * Every byte this module wants written to QEMU goes through the session's {@link ForwardGuard}
 * (the first piece as the browser's answer, each served piece as `toVm(bytes, 'relay')`), so
 * the guard's byte count and answerable-command count stay exact and the splitting can never
 * wedge QEMU (issue 11 §1).
 *
 * Rules (the buffer behaves as a T=0 card's would, ISO/IEC 7816-4 §5.3.4):
 * - A browser APDU answer longer than `maxAnswerBytes`, or with more data than the guest
 *   command asked for (its Ne; 256 without Le), becomes its first min(Ne, 256) data bytes +
 *   `61xx`; the rest and the card's status word wait in the buffer. (A page on this contract
 *   collects a card's own 61xx chain over USB and sends it whole, so the guest's GET
 *   RESPONSEs for it are served here.) A shorter answer, an Error answer,
 *   an ATR, CardRemove or ReaderRemove empties the buffer.
 * - A guest GET RESPONSE (`00 C0 00 00 Le`) is served from the buffer only when the buffer
 *   holds data and it is the only guest command that may be answered (so answers reach QEMU in
 *   the guests's order, §4 FIFO); any other guest command empties the buffer and goes to the
 *   browser, as do GET RESPONSEs that cannot be served.
 *
 * Pure: messages in, decisions out, no clock. One instance per relayed session, used only when
 * the long-answers subprotocol was selected.
 */
import { encodeApduMessage } from './codec.ts';
import { VSC, VSCARD_HEADER_BYTES, VSCARD_MAX_GUEST_ANSWER_BYTES } from './constants.ts';
import type { ForwardGuard, ToVmDecision } from './forward-guard.ts';
import { commandNe, LongAnswerSplitter } from './long-answer.ts';
import { readU32BE } from './u32.ts';
import { checkClientFrame } from './validate.ts';

/** What to do with a browser message (decided before anything reaches QEMU). */
export type BrowserAnswerDecision =
  /** Write `bytes` (the message itself, or the first piece of a long answer), then `probe`. */
  | { action: 'forward'; bytes: Uint8Array; probe?: Uint8Array }
  /** The guard's refusal: write nothing, close the browser with `closeCode` / `reason`. */
  | Extract<ToVmDecision, { action: 'refuse' }>;

/** What to do with a guest command from QEMU (after `guard.fromVm` said forward). */
export type GuestCommandDecision =
  /** Send it to the browser. */
  | { action: 'forward' }
  /** Answer it here: write `answer` (then `probe`) to QEMU; the browser never sees the command. */
  | { action: 'serve'; answer: Uint8Array; probe?: Uint8Array }
  /** The guard refused the relay's own answer (cannot happen with probes on): end the session. */
  | Extract<ToVmDecision, { action: 'refuse' }>;

/** Options of {@link RelayAnswerSplitter}. */
export interface RelayAnswerSplitterOptions {
  /** Largest answer QEMU delivers, bytes; default 374 (QEMU 7.2 and 10.0). */
  maxAnswerBytes?: number;
}

/** Counters for logs and metrics. */
export interface RelayAnswerSplitterStats {
  /** Browser answers split because they were too long for QEMU. */
  answersSplit: number;
  /** Guest GET RESPONSEs answered from the buffer (each one a WAN round trip saved). */
  getResponsesServed: number;
}

/** Relay-side long-answer splitting of one session; see the file comment. */
export class RelayAnswerSplitter {
  readonly #guard: ForwardGuard;
  readonly #buffer: LongAnswerSplitter;
  readonly #stats: RelayAnswerSplitterStats = { answersSplit: 0, getResponsesServed: 0 };
  /** Ne of the guest commands sent to the browser, oldest first (the last ones are answerable). */
  #ne: number[] = [];

  constructor(guard: ForwardGuard, opts: RelayAnswerSplitterOptions = {}) {
    this.#guard = guard;
    this.#buffer = new LongAnswerSplitter({
      maxAnswerBytes: opts.maxAnswerBytes ?? VSCARD_MAX_GUEST_ANSWER_BYTES,
    });
  }

  /** Data bytes waiting for GET RESPONSE. */
  get bufferedBytes(): number {
    return this.#buffer.bufferedBytes;
  }

  get stats(): Readonly<RelayAnswerSplitterStats> {
    return this.#stats;
  }

  /**
   * One browser message (one WebSocket frame) about to go to QEMU. Replaces the relay's direct
   * `guard.toVm(bytes)` call for sessions with the long-answers subprotocol.
   */
  fromBrowser(bytes: Uint8Array): BrowserAnswerDecision {
    const type = bytes.length >= VSCARD_HEADER_BYTES ? readU32BE(bytes, 0) : -1;
    let toWrite = bytes;
    if (type === VSC.APDU && isWholeMessage(bytes)) {
      toWrite = this.#splitAnswer(bytes, this.#takeNe());
    } else if (type === VSC.Error) {
      this.#takeNe();
      this.#buffer.reset();
    } else if (type !== VSC.Init && type !== VSC.ReaderAdd) {
      this.#ne = []; // ATR, CardRemove, ReaderRemove: QEMU settles every waiting command
      this.#buffer.reset(); // (or a bad frame: the session ends)
    }
    const d = this.#guard.toVm(toWrite, 'browser');
    if (d.action === 'refuse') {
      this.#buffer.reset();
      return d;
    }
    return d.probe
      ? { action: 'forward', bytes: toWrite, probe: d.probe }
      : { action: 'forward', bytes: toWrite };
  }

  /**
   * One guest command from QEMU (`bytes` = the whole APDU message), after `guard.fromVm`
   * counted it. Serves a GET RESPONSE from the buffer when it can. The `forward` decision is
   * frozen and shared between calls.
   */
  fromVm(bytes: Uint8Array): GuestCommandDecision {
    const apdu = bytes.subarray(VSCARD_HEADER_BYTES);
    if (this.#buffer.bufferedBytes > 0 && this.#guard.answerableCommands !== 1) {
      // An earlier command still waits for the browser, or QEMU settles this one itself.
      this.#buffer.reset();
    }
    const decision =
      this.#buffer.bufferedBytes > 0 ? this.#buffer.handleCommand(apdu) : FORWARD_COMMAND;
    if (decision.kind === 'forward') {
      this.#ne.push(commandNe(apdu));
      if (this.#ne.length > MAX_TRACKED_COMMANDS) this.#ne.shift();
      return FORWARD_TO_BROWSER;
    }
    const answer = encodeApduMessage(readU32BE(bytes, 4), decision.answer);
    const d = this.#guard.toVm(answer, 'relay');
    if (d.action === 'refuse') {
      this.#buffer.reset();
      return d;
    }
    this.#stats.getResponsesServed++;
    return d.probe ? { action: 'serve', answer, probe: d.probe } : { action: 'serve', answer };
  }

  /** The browser is gone or the card changed outside the message flow: forget the buffer. */
  reset(): void {
    this.#buffer.reset();
    this.#ne = [];
  }

  /**
   * Ne of the guest command the browser's next answer goes to (the oldest answerable one:
   * the guard counts them, the newest ones of the list), dropping it and any older entry;
   * undefined when no command waits.
   */
  #takeNe(): number | undefined {
    const at = this.#ne.length - this.#guard.answerableCommands;
    if (this.#guard.answerableCommands === 0 || at < 0) return undefined;
    const ne = this.#ne[at];
    for (let i = 0; i <= at; i++) this.#ne.shift(); // in place: no new list per answer
    return ne;
  }

  /** The answer to write for a whole browser APDU message: itself, or its first piece. */
  #splitAnswer(bytes: Uint8Array, ne: number | undefined): Uint8Array {
    const answer = bytes.subarray(VSCARD_HEADER_BYTES);
    const piece = this.#buffer.handleAnswer(answer, ne);
    if (piece === answer) return bytes;
    this.#stats.answersSplit++;
    return encodeApduMessage(readU32BE(bytes, 4), piece);
  }
}

const FORWARD_COMMAND = { kind: 'forward' } as const;
/** One shared decision for every guest command that goes to the browser. */
const FORWARD_TO_BROWSER: GuestCommandDecision = Object.freeze({ action: 'forward' });
/** Ne entries kept; QEMU never has more than 128 guest commands waiting (§4). */
const MAX_TRACKED_COMMANDS = 256;

/**
 * One whole client message (the guard refuses anything else; nothing is split then). Needed
 * before splitting, not only in the guard: `#splitAnswer` re-encodes the first piece with a
 * correct header, so a frame whose length word lies would reach the guard as a valid message.
 */
function isWholeMessage(bytes: Uint8Array): boolean {
  return checkClientFrame(bytes) === null;
}
