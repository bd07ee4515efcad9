import type { ParsedApdu } from './apdu.ts';
import { parseApdu } from './apdu.ts';
import { concatBytes } from './bytes.ts';
import { CcidError } from './errors.ts';

/** What the T=0 engine wants next. */
export type T0Action =
  { type: 'send'; command: Uint8Array } | { type: 'done'; response: Uint8Array };

/** Options of {@link T0Exchange}. */
export interface T0ExchangeOptions {
  /**
   * 'tpdu': build T=0 TPDUs (case 4 sent as case 3, ISO/IEC 7816-3:2006 §12.2); 'apdu': the reader
   * takes whole APDUs but the card may still answer 61xx/6Cxx (ccid.md §11, §16.2).
   */
  mode: 'tpdu' | 'apdu';
  /** CLA for GET RESPONSE: a byte, or 'channel' = original CLA's logical channel bits (default). */
  getResponseCla?: number | 'channel';
  /** Largest total response data accumulated over GET RESPONSEs, bytes. Default 65536. */
  maxResponseBytes?: number;
  /** Largest number of commands for one APDU (61xx/6Cxx loop bound). Default 512. */
  maxCommands?: number;
}

/**
 * T=0 APDU exchange on top of TPDUs (ISO/IEC 7816-3:2006 §12.2, ISO/IEC 7816-4 §5.3.4): 61xx ⇒
 * GET RESPONSE with Le = min(xx, Ne still expected), repeated while 61xx, data concatenated
 * (once Ne bytes are in, the 61xx is returned to the caller); 6Cxx ⇒ the same command
 * re-sent with Le = xx. Pure: `start()` then `onResponse()` per reader answer until 'done'.
 * Extended APDUs at TPDU level need ENVELOPE and are refused (CCID_APDU_TOO_LONG) unless Lc ≤ 255
 * (then sent as short with P3 = min(Ne, 256) mod 256).
 */
export class T0Exchange {
  readonly #apdu: ParsedApdu;
  readonly #raw: Uint8Array;
  readonly #opts: Required<T0ExchangeOptions>;
  #data: Uint8Array[] = [];
  #dataBytes = 0;
  #commands = 0;
  #last: Uint8Array = new Uint8Array(0);
  #isLastCase2 = false;
  #reissues = 0;
  #isDone = false;

  constructor(apdu: Uint8Array, opts: T0ExchangeOptions) {
    this.#raw = apdu;
    this.#apdu = parseApdu(apdu);
    this.#opts = { getResponseCla: 'channel', maxResponseBytes: 65536, maxCommands: 512, ...opts };
    if (opts.mode === 'tpdu' && this.#apdu.data.length > 255) {
      throw new CcidError(
        'CCID_APDU_TOO_LONG',
        `T=0 TPDU carries at most 255 data bytes (got ${this.#apdu.data.length}); ENVELOPE is not supported`,
      );
    }
  }

  /** First command to send: the TPDU (or the APDU unchanged in 'apdu' mode). */
  start(): T0Action {
    const a = this.#apdu;
    if (this.#opts.mode === 'apdu') return this.#send(this.#raw, a.case === 2 || a.case === 4);
    const head = [a.cla, a.ins, a.p1, a.p2];
    switch (a.case) {
      case 1:
        return this.#send(Uint8Array.from([...head, 0]), false);
      case 2:
        return this.#send(Uint8Array.from([...head, a.ne >= 256 ? 0 : a.ne]), true);
      default: {
        const t = new Uint8Array(5 + a.data.length);
        t.set(head);
        t[4] = a.data.length;
        t.set(a.data, 5);
        return this.#send(t, false); // case 4 sent as case 3 (ISO 7816-3 §12.2.3)
      }
    }
  }

  /** Feeds the card's answer (data + SW1 SW2) to the last command. */
  onResponse(resp: Uint8Array): T0Action {
    if (this.#isDone) throw new CcidError('CCID_PROTOCOL', 'T=0 exchange already done');
    if (resp.length < 2)
      throw new CcidError(
        'CCID_PROTOCOL',
        `card answer of ${resp.length} bytes has no status word`,
      );
    const sw1 = resp[resp.length - 2]!;
    const sw2 = resp[resp.length - 1]!;
    const body = resp.subarray(0, resp.length - 2);
    if (body.length) {
      this.#data.push(body.slice());
      this.#dataBytes += body.length;
      if (this.#dataBytes > this.#opts.maxResponseBytes)
        throw new CcidError('CCID_PROTOCOL', 'T=0 response exceeds the response limit');
    }
    if (this.#commands >= this.#opts.maxCommands)
      return this.#finish(resp.subarray(resp.length - 2));
    if (sw1 === 0x61) {
      // ISO 7816-4 §5.3.4: SW2 bytes (00 = 256) are available through GET RESPONSE; never ask for
      // more than the command's Ne still allows (ccid.md §13.2: min(xx, Le)).
      const available = sw2 === 0 ? 256 : sw2;
      const remaining = this.#apdu.ne > 0 ? this.#apdu.ne - this.#dataBytes : available;
      if (remaining <= 0) return this.#finish(resp.subarray(resp.length - 2));
      const le = Math.min(available, remaining);
      const cla =
        this.#opts.getResponseCla === 'channel'
          ? this.#apdu.cla & 0x80
            ? 0x00
            : this.#apdu.cla & 0x03
          : this.#opts.getResponseCla;
      this.#reissues = 0;
      return this.#send(Uint8Array.from([cla, 0xc0, 0x00, 0x00, le & 0xff]), true);
    }
    if (sw1 === 0x6c && body.length === 0 && this.#isLastCase2 && this.#reissues < 3) {
      // ISO 7816-3 §12.2.2: wrong length, re-issue the same command with P3/Le = SW2.
      this.#reissues++;
      return this.#send(withLe(this.#last, sw2), true);
    }
    return this.#finish(resp.subarray(resp.length - 2));
  }

  #send(command: Uint8Array, isCase2: boolean): T0Action {
    this.#commands++;
    this.#last = command;
    this.#isLastCase2 = isCase2;
    return { type: 'send', command };
  }

  #finish(sw: Uint8Array): T0Action {
    this.#isDone = true;
    return { type: 'done', response: concatBytes([...this.#data, sw]) };
  }
}

/** Re-encodes a command with a short Le (6Cxx re-issue); keeps the data field. */
function withLe(cmd: Uint8Array, le: number): Uint8Array {
  const a = parseApdu(cmd);
  const head = [a.cla, a.ins, a.p1, a.p2];
  if (a.data.length === 0) return Uint8Array.from([...head, le]);
  if (a.data.length <= 255) return Uint8Array.from([...head, a.data.length, ...a.data, le]);
  const out = new Uint8Array(7 + a.data.length + 2);
  out.set(head);
  out[5] = a.data.length >> 8;
  out[6] = a.data.length & 0xff;
  out.set(a.data, 7);
  out[out.length - 1] = le;
  return out;
}
