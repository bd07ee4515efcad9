import { concatBytes } from './bytes.ts';
import { CCID_HEADER_BYTES } from './constants.ts';
import { CcidError } from './errors.ts';

/** wLevelParameter at extended APDU level (CCID rev 1.1 §6.1.4, ccid.md §7). */
export const LevelParameter = {
  /** The command APDU begins and ends with this XfrBlock. */
  Whole: 0x0000,
  /** It begins here and continues in the next XfrBlock. */
  Begins: 0x0001,
  /** It ends with this XfrBlock. */
  Ends: 0x0002,
  /** It continues; neither first nor last. */
  Continues: 0x0003,
  /** Empty XfrBlock: send me the next part of the response. */
  NextPart: 0x0010,
} as const;

/** bChainParameter values saying the response continues (CCID rev 1.1 §6.2.1). */
const RESPONSE_CONTINUES = new Set([0x01, 0x03, 0x10]);
/** Largest response APDU, bytes: 65536 data + SW1 SW2. */
const MAX_RESPONSE_BYTES = 65538;
/** Pulls before the response chain is declared endless. */
const MAX_PULLS = 4096;

/** What the chaining wants next. */
export type ExtendedApduStep =
  | { type: 'send'; data: Uint8Array; levelParameter: number }
  | { type: 'done'; response: Uint8Array };

/** Options of {@link ExtendedApduExchange}. */
export interface ExtendedApduExchangeOptions {
  /** dwMaxCCIDMessageLength of the reader: each XfrBlock carries at most this minus the header. */
  maxMessageLength: number;
}

/**
 * One APDU at extended APDU level, without I/O (CCID rev 1.1 §6.1.4 wLevelParameter, §6.2.1
 * bChainParameter; ccid.md §7): a command longer than one XfrBlock goes in parts 0x0001, 0x0003…,
 * 0x0002; a response whose bChainParameter is 0x01/0x03/0x10 is pulled with empty 0x0010 XfrBlocks
 * and joined. `start()`, then `onResponse()` per successful DataBlock until 'done'. Throws
 * CCID_PROTOCOL when the response chain does not end.
 */
export class ExtendedApduExchange {
  readonly #apdu: Uint8Array;
  readonly #chunk: number;
  #sent = 0;
  #parts: Uint8Array[] = [];
  #total = 0;
  #pulls = 0;

  constructor(apdu: Uint8Array, opts: ExtendedApduExchangeOptions) {
    this.#apdu = apdu;
    this.#chunk = Math.max(1, opts.maxMessageLength - CCID_HEADER_BYTES);
  }

  start(): ExtendedApduStep {
    return this.#nextCommandPart();
  }

  /** Feeds the DataBlock (abData, bChainParameter) answering the last XfrBlock. */
  onResponse(r: { data: Uint8Array; bSpecific: number }): ExtendedApduStep {
    // Answers to the non-final command parts carry nothing (the reader only acknowledges).
    if (this.#sent < this.#apdu.length) return this.#nextCommandPart();
    this.#parts.push(r.data.slice());
    this.#total += r.data.length;
    if (!RESPONSE_CONTINUES.has(r.bSpecific))
      return {
        type: 'done',
        response: this.#parts.length === 1 ? this.#parts[0]! : concatBytes(this.#parts),
      };
    if (++this.#pulls > MAX_PULLS || this.#total > MAX_RESPONSE_BYTES)
      throw new CcidError('CCID_PROTOCOL', 'response chaining does not end');
    return { type: 'send', data: new Uint8Array(0), levelParameter: LevelParameter.NextPart };
  }

  #nextCommandPart(): ExtendedApduStep {
    const apdu = this.#apdu;
    if (apdu.length <= this.#chunk) {
      this.#sent = apdu.length;
      return { type: 'send', data: apdu, levelParameter: LevelParameter.Whole };
    }
    const off = this.#sent;
    const end = Math.min(apdu.length, off + this.#chunk);
    this.#sent = end;
    const levelParameter =
      off === 0
        ? LevelParameter.Begins
        : end === apdu.length
          ? LevelParameter.Ends
          : LevelParameter.Continues;
    return { type: 'send', data: apdu.subarray(off, end), levelParameter };
  }
}
