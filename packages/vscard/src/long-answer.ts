/**
 * Long answers in pieces the VM understands.
 *
 * QEMU 7.2 silently drops any VSCard APDU answer longer than 374 bytes (384-byte bulk-in
 * buffer minus the 10-byte CCID header; vscard-protocol.md §4, vector g02) and the guest
 * then waits forever. An answer that long is split the way a T=0 card does it
 * (ISO/IEC 7816-4:2020 §5.3.4 and §5.6): the first piece carries `61xx` (xx = bytes still
 * available, `00` = 256 or more) and the guest collects the rest with GET RESPONSE
 * (`00 C0 00 00 Le`), served from this buffer without reaching the card. Any other command
 * discards the buffer, as a card would.
 *
 * Used by the page (packages/bridge, when the relay does not split) and, next to QEMU, by the
 * relay's `RelayAnswerSplitter` (relay-answer-splitter.ts, issue 11 §3). Pure: no I/O,
 * no time.
 */
import { VSCARD_MAX_GUEST_ANSWER_BYTES } from './constants.ts';

/** Default largest answer QEMU 7.2 delivers to the guest, in bytes (data + SW1 SW2). */
export const DEFAULT_MAX_ANSWER_BYTES = VSCARD_MAX_GUEST_ANSWER_BYTES;

/** What to do with a guest command, decided by {@link LongAnswerSplitter.handleCommand}. */
export type SplitterDecision =
  { kind: 'forward' } | { kind: 'serve'; answer: Uint8Array; remainingBytes: number };

/** Options of {@link LongAnswerSplitter}. */
export interface LongAnswerSplitterOptions {
  /** Largest answer (data + SW) passed through unchanged; default 374. Range 3..65538. */
  maxAnswerBytes?: number;
  /** Data bytes per piece once splitting, default 256 (the most one `61xx`/Le can announce); at most `maxAnswerBytes - 2`. */
  chunkBytes?: number;
}

/** Splits answers over the limit and serves the rest to GET RESPONSE (see the module comment). */
export class LongAnswerSplitter {
  readonly maxAnswerBytes: number;
  readonly chunkBytes: number;
  #data: Uint8Array | null = null;
  #offset = 0;
  #sw1 = 0x90;
  #sw2 = 0x00;

  constructor(opts: LongAnswerSplitterOptions = {}) {
    const maxAnswerBytes = opts.maxAnswerBytes ?? DEFAULT_MAX_ANSWER_BYTES;
    if (!Number.isInteger(maxAnswerBytes) || maxAnswerBytes < 3 || maxAnswerBytes > 65538) {
      throw new RangeError(`maxAnswerBytes must be an integer in 3..65538, got ${maxAnswerBytes}`);
    }
    const chunkBytes = opts.chunkBytes ?? Math.min(256, maxAnswerBytes - 2);
    if (
      !Number.isInteger(chunkBytes) ||
      chunkBytes < 1 ||
      chunkBytes > Math.min(256, maxAnswerBytes - 2)
    ) {
      throw new RangeError(
        `chunkBytes must be an integer in 1..min(256, maxAnswerBytes - 2), got ${chunkBytes}`,
      );
    }
    this.maxAnswerBytes = maxAnswerBytes;
    this.chunkBytes = chunkBytes;
  }

  /** Data bytes still buffered for GET RESPONSE (0 when nothing is buffered). */
  get bufferedBytes(): number {
    return this.#data === null ? 0 : this.#data.length - this.#offset;
  }

  /**
   * Looks at a guest command before it goes to the card. A GET RESPONSE while data is
   * buffered is answered here (`serve`); anything else discards the buffer and must be
   * forwarded (`forward`).
   */
  handleCommand(cmd: Uint8Array): SplitterDecision {
    if (this.#data === null) return { kind: 'forward' };
    const ne = getResponseNe(cmd);
    if (ne === null) {
      this.reset();
      return { kind: 'forward' };
    }
    const data = this.#data;
    const n = Math.min(ne, this.maxAnswerBytes - 2, data.length - this.#offset);
    const piece = data.subarray(this.#offset, this.#offset + n);
    this.#offset += n;
    const remainingBytes = data.length - this.#offset;
    const answer = new Uint8Array(n + 2);
    answer.set(piece, 0);
    if (remainingBytes > 0) {
      answer[n] = 0x61;
      answer[n + 1] = remainingBytes >= 256 ? 0x00 : remainingBytes;
    } else {
      answer[n] = this.#sw1;
      answer[n + 1] = this.#sw2;
      this.reset();
    }
    return { kind: 'serve', answer, remainingBytes };
  }

  /**
   * Takes the card's answer (data + SW1 SW2) to a forwarded command and returns what to
   * send to the VM: the answer itself when it fits, else its first piece ending in `61xx`
   * (the rest, and the card's real status word, wait for GET RESPONSE). With `commandNe`
   * (the command's {@link commandNe}), an answer with more data than the guest asked for is
   * split too, its first piece being `commandNe` bytes (at most the chunk size).
   */
  handleAnswer(answer: Uint8Array, commandNe?: number): Uint8Array {
    this.reset();
    const dataLength = answer.length - 2;
    const isOverNe = commandNe !== undefined && dataLength > commandNe;
    if (answer.length <= this.maxAnswerBytes && !isOverNe) return answer;
    // With the command's Ne known, the first piece is what the guest asked for (as a T=0 card
    // answers a short Le with 61xx, ISO 7816-4 §5.3.4).
    const chunk = Math.max(1, Math.min(this.chunkBytes, commandNe ?? this.chunkBytes));
    this.#data = answer.slice(0, dataLength);
    this.#sw1 = answer[dataLength] ?? 0x90;
    this.#sw2 = answer[dataLength + 1] ?? 0x00;
    this.#offset = chunk;
    const remaining = dataLength - chunk;
    const first = new Uint8Array(chunk + 2);
    first.set(this.#data.subarray(0, chunk), 0);
    first[chunk] = 0x61;
    first[chunk + 1] = remaining >= 256 ? 0x00 : remaining;
    return first;
  }

  /** Forgets any buffered data (card removed, new ATR, new connection). */
  reset(): void {
    if (this.#data !== null) this.#data.fill(0);
    this.#data = null;
    this.#offset = 0;
  }
}

/**
 * Ne of a GET RESPONSE (`CLA C0 00 00 [Le]`, interindustry class, any logical channel;
 * ISO 7816-4 §11.4.4), or `null` when the command is something else. Absent Le is read as
 * 256 (T=0 practice), `00` as 256, extended `00 00 00` as 65536.
 */
export function getResponseNe(cmd: Uint8Array): number | null {
  if (cmd.length < 4) return null;
  const cla = cmd[0] ?? 0;
  if ((cla & 0x80) !== 0 || cmd[1] !== 0xc0 || cmd[2] !== 0x00 || cmd[3] !== 0x00) return null;
  if (cmd.length === 4) return 256;
  if (cmd.length === 5) return cmd[4] === 0 ? 256 : (cmd[4] ?? 256);
  if (cmd.length === 7 && cmd[4] === 0) {
    const le = ((cmd[5] ?? 0) << 8) | (cmd[6] ?? 0);
    return le === 0 ? 65536 : le;
  }
  return null;
}

/**
 * Ne of any command APDU (ISO 7816-4 §5.1): its Le (`00` = 256, extended `00 00` = 65536), or
 * 256 when it has no Le (case 1 and 3: T=0 practice, where the card may still answer data).
 * A malformed length structure also gives 256.
 */
export function commandNe(cmd: Uint8Array): number {
  const n = cmd.length;
  if (n <= 4) return 256;
  const b4 = cmd[4] ?? 0;
  if (n === 5) return b4 === 0 ? 256 : b4;
  if (b4 !== 0) {
    if (n === 6 + b4) return cmd[n - 1] === 0 ? 256 : (cmd[n - 1] ?? 256);
    return 256; // case 3 (n === 5 + Lc) or malformed
  }
  const u16 = (at: number): number => ((cmd[at] ?? 0) << 8) | (cmd[at + 1] ?? 0);
  if (n === 7) return u16(5) === 0 ? 65536 : u16(5);
  const lc = u16(5);
  if (n === 9 + lc) return u16(n - 2) === 0 ? 65536 : u16(n - 2);
  return 256;
}
