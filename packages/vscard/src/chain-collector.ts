/**
 * Collects a card's own `61xx` chain (ISO/IEC 7816-4 §5.3.4) with GET RESPONSE next to the
 * card, so the whole answer goes to the relay in one message when the relay splits long
 * answers (long-answers contract, issue 11 §3): the guest's GET RESPONSEs are then served next
 * to QEMU instead of each crossing the WAN. Pure: answers in, the next command out.
 */
import { VSCARD_MAX_PAYLOAD_BYTES } from './constants.ts';

/** Most data collected: one VSCard message minus SW1 SW2 and one piece of room. */
export const MAX_COLLECTED_BYTES = VSCARD_MAX_PAYLOAD_BYTES - 2 - 256;

/** Most GET RESPONSEs per guest command (a card answering `61xx` with no data stops here). */
export const MAX_CHAIN_LINKS = 300;

/** The answer before any: shared (empty, so nobody can change it). */
const NO_ANSWER = new Uint8Array(0);

/**
 * One guest command's exchange with the card; see the module comment. Made per guest command,
 * so nothing is allocated until a `61xx` chain actually follows.
 */
export class ChainCollector {
  readonly #cla: number;
  readonly #isCollecting: boolean;
  /** Collected pieces' data; null until the first `61xx`. */
  #parts: Uint8Array[] | null = null;
  #total = 0;
  #last: Uint8Array = NO_ANSWER;

  /** `isCollecting` false: the first answer is the answer (the bridge splits itself). */
  constructor(command: Uint8Array, isCollecting: boolean) {
    // GET RESPONSE on the command's basic logical channel (interindustry class).
    this.#cla = (command[0] ?? 0) & 0x03;
    this.#isCollecting = isCollecting;
  }

  /** Takes the card's answer; returns the GET RESPONSE to send next, or null when complete. */
  add(answer: Uint8Array): Uint8Array | null {
    this.#last = answer;
    const isMore = answer.length >= 2 && answer[answer.length - 2] === 0x61;
    if (!this.#isCollecting || !isMore || this.#total >= MAX_COLLECTED_BYTES) return null;
    const parts = (this.#parts ??= []);
    if (parts.length >= MAX_CHAIN_LINKS) return null;
    const data = answer.subarray(0, answer.length - 2);
    parts.push(data.slice());
    this.#total += data.length;
    return Uint8Array.of(this.#cla, 0xc0, 0x00, 0x00, answer[answer.length - 1] ?? 0);
  }

  /** The whole answer: every collected piece's data, then the last answer (data + SW). */
  answer(): Uint8Array {
    const parts = this.#parts;
    if (parts === null || parts.length === 0) return this.#last;
    const out = new Uint8Array(this.#total + this.#last.length);
    let at = 0;
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i] as Uint8Array;
      out.set(p, at);
      at += p.length;
    }
    out.set(this.#last, at);
    return out;
  }
}
