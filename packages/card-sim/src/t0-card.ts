/**
 * Card side of T=0 (ISO/IEC 7816-3 §10 and 7816-4 §5.3): one TPDU in (header + data as a TPDU-level
 * reader passes it after handling procedure bytes), data + SW out. Responses with data to case-3
 * TPDUs become 61xx with GET RESPONSE; a case-2 TPDU with the wrong P3 gets 6Cxx.
 */
import { concatBytes, swBytes } from './bytes.ts';

/** Outcome of one TPDU: the bytes the card returns, or a protocol failure the reader sees as mute. */
export type T0Outcome = { kind: 'ok'; response: Uint8Array } | { kind: 'bad-tpdu' };

/** Per-reset T=0 state of a card. */
export class T0CardEngine {
  readonly #app: (apdu: Uint8Array) => Promise<Uint8Array> | Uint8Array;
  #pending: { data: Uint8Array; sw: Uint8Array } | null = null;
  /** Answer held back after a 6Cxx, returned when the same command is re-issued with P3 = xx. */
  #reissue: { header: Uint8Array; answer: Uint8Array } | null = null;

  constructor(app: (apdu: Uint8Array) => Promise<Uint8Array> | Uint8Array) {
    this.#app = app;
  }

  /** Forgets GET RESPONSE data (reset). */
  reset(): void {
    this.#pending = null;
    this.#reissue = null;
  }

  /** Handles one TPDU `CLA INS P1 P2 P3 [data]`. */
  async exchange(tpdu: Uint8Array): Promise<T0Outcome> {
    if (tpdu.length < 5) return { kind: 'bad-tpdu' };
    const ins = tpdu[1] ?? 0;
    const p3 = tpdu[4] ?? 0;
    const data = tpdu.subarray(5);
    if (data.length !== 0 && data.length !== p3) return { kind: 'bad-tpdu' };
    // ISO 7816-3 §10.3.2: INS 6X / 9X are invalid; the card answers 6D00.
    if ((ins & 0xf0) === 0x60 || (ins & 0xf0) === 0x90) {
      this.#pending = null;
      return { kind: 'ok', response: swBytes(0x6d00) };
    }
    const reissue = this.#reissue;
    this.#reissue = null;
    if (data.length === 0 && ins === 0xc0 && this.#pending) return this.#getResponse(p3);
    this.#pending = null;
    if (reissue && data.length === 0 && reissue.header.every((b, i) => tpdu[i] === b)) {
      const n = reissue.answer.length - 2;
      if ((n >= 256 ? 0 : n) === p3) return { kind: 'ok', response: reissue.answer };
    }
    if (data.length > 0) {
      // case 3 (or case 4 sent as case 3): data goes to the card; any response data waits.
      const answer = await this.#app(tpdu.slice());
      return this.#deliverAfterCase3(answer);
    }
    // case 1 / case 2: P3 is Le (00 = 256).
    const answer = await this.#app(tpdu.slice());
    const resp = answer.subarray(0, Math.max(0, answer.length - 2));
    const sw = answer.subarray(Math.max(0, answer.length - 2));
    if (resp.length === 0) return { kind: 'ok', response: sw.slice() };
    const le = p3 === 0 ? 256 : p3;
    if (resp.length === le) return { kind: 'ok', response: answer.slice() };
    if (resp.length > 256 && le === 256) {
      this.#pending = { data: resp.slice(256), sw: sw.slice() };
      return { kind: 'ok', response: concatBytes(resp.subarray(0, 256), this.#moreSw()) };
    }
    // ISO 7816-4 §5.1.3: wrong length Le; SW2 = exact available length (00 = 256 or more).
    if (resp.length <= 256) this.#reissue = { header: tpdu.slice(0, 4), answer: answer.slice() };
    return { kind: 'ok', response: swBytes(0x6c00 | (resp.length >= 256 ? 0 : resp.length)) };
  }

  #deliverAfterCase3(answer: Uint8Array): T0Outcome {
    const resp = answer.subarray(0, Math.max(0, answer.length - 2));
    const sw = answer.subarray(Math.max(0, answer.length - 2));
    if (resp.length === 0) return { kind: 'ok', response: sw.slice() };
    this.#pending = { data: resp.slice(), sw: sw.slice() };
    return { kind: 'ok', response: this.#moreSw() };
  }

  #moreSw(): Uint8Array {
    const n = this.#pending?.data.length ?? 0;
    return Uint8Array.of(0x61, n >= 256 ? 0 : n);
  }

  #getResponse(p3: number): T0Outcome {
    const pending = this.#pending!;
    const le = p3 === 0 ? 256 : p3;
    const available = pending.data.length;
    if (le > available) {
      return { kind: 'ok', response: swBytes(0x6c00 | (available >= 256 ? 0 : available)) };
    }
    const chunk = pending.data.subarray(0, le);
    const rest = pending.data.subarray(le);
    if (rest.length > 0) {
      this.#pending = { data: rest.slice(), sw: pending.sw };
      return { kind: 'ok', response: concatBytes(chunk, this.#moreSw()) };
    }
    this.#pending = null;
    return { kind: 'ok', response: concatBytes(chunk, pending.sw) };
  }
}
