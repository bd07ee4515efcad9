/**
 * Card side of the T=1 block protocol (ISO/IEC 7816-3 §11): I-blocks with chaining both ways,
 * R-blocks (acknowledge / retransmit), S-blocks (IFS, WTX, RESYNCH, ABORT), LRC or CRC.
 * The card's first I-block has N(S) = 0; R-block N(R) names the next I-block expected.
 */
import { concatBytes } from './bytes.ts';

const EMPTY = new Uint8Array(0);

/** EDC of a T=1 block. */
export type EdcKind = 'lrc' | 'crc';

/** LRC: XOR of the first `end` bytes, all by default (ISO 7816-3 §11.4.1). */
export function lrc(bytes: Uint8Array, end = bytes.length): number {
  let x = 0;
  for (let i = 0; i < end; i++) x ^= bytes[i] ?? 0;
  return x;
}

/** The reflected CCITT CRC register over the first `end` bytes (init 0xFFFF, no final XOR). */
function crcRegister(bytes: Uint8Array, end: number): number {
  let crc = 0xffff;
  for (let i = 0; i < end; i++) {
    crc ^= bytes[i] ?? 0;
    for (let b = 0; b < 8; b++) crc = crc & 1 ? (crc >>> 1) ^ 0x8408 : crc >>> 1;
  }
  return crc;
}

/**
 * 16-bit CRC over the block. 'libccid': reflected CCITT (0x8408), init 0xFFFF, no final XOR, high
 * byte first (check "123456789" = 0x6F91, ccid.md §14.1). 'iso13239': same with final XOR 0xFFFF,
 * low byte first.
 */
export function crc16(bytes: Uint8Array, variant: 'libccid' | 'iso13239' = 'libccid'): Uint8Array {
  const edc = crcEdc(crcRegister(bytes, bytes.length), variant);
  return Uint8Array.of(edc >>> 8, edc & 0xff);
}

/**
 * The two CRC bytes as sent, the first in the high half: libccid sends the register high byte
 * first, ISO/IEC 13239 its complement low byte first.
 */
function crcEdc(crc: number, variant: 'libccid' | 'iso13239'): number {
  if (variant === 'libccid') return crc;
  const x = ~crc & 0xffff;
  return ((x & 0xff) << 8) | (x >>> 8);
}

/**
 * Writes the EDC of `block`'s first `end` bytes (prologue + INF) at `end`: `block` has room for
 * it (1 byte LRC, 2 bytes CRC).
 */
function writeEdc(
  block: Uint8Array,
  end: number,
  edc: EdcKind,
  variant: 'libccid' | 'iso13239' = 'libccid',
): void {
  if (edc === 'lrc') {
    block[end] = lrc(block, end);
    return;
  }
  const sent = crcEdc(crcRegister(block, end), variant);
  block[end] = sent >>> 8;
  block[end + 1] = sent & 0xff;
}

/** Whether `block`'s last bytes are the EDC of the bytes before them (no copy). */
function hasValidEdc(
  block: Uint8Array,
  edc: EdcKind,
  variant: 'libccid' | 'iso13239' = 'libccid',
): boolean {
  if (edc === 'lrc') return lrc(block, block.length - 1) === block[block.length - 1];
  const end = block.length - 2;
  const sent = ((block[end] ?? 0) << 8) | (block[end + 1] ?? 0);
  return sent === crcEdc(crcRegister(block, end), variant);
}

/** Appends the EDC to a prologue+INF. */
export function withEdc(
  body: Uint8Array,
  edc: EdcKind,
  variant: 'libccid' | 'iso13239' = 'libccid',
): Uint8Array {
  const out = new Uint8Array(body.length + (edc === 'lrc' ? 1 : 2));
  out.set(body);
  writeEdc(out, body.length, edc, variant);
  return out;
}

/** Options of the card T=1 engine. */
export interface T1CardEngineOptions {
  readonly ifsc: number;
  readonly edc: EdcKind;
  readonly crcVariant?: 'libccid' | 'iso13239';
  /** Initial IFSD (what the card may send per block): 32, or the reader's value after auto-IFSD. */
  readonly ifsd?: number;
  readonly wtxEvery?: number;
  readonly wtxMultiplier?: number;
  readonly requestIfsc?: number;
  readonly app: (apdu: Uint8Array) => Promise<Uint8Array> | Uint8Array;
}

/** Observable T=1 state, for tests. */
export interface T1CardState {
  readonly ifsd: number;
  readonly ifsc: number;
  readonly ifsdNegotiated: boolean;
  readonly blocksReceived: number;
  readonly blocksSent: number;
  readonly resynchs: number;
}

/** One card's T=1 engine (state lives until the next reset). */
export class T1CardEngine {
  readonly #o: T1CardEngineOptions;
  #ifsd: number;
  #ifsc: number;
  #ifsdNegotiated = false;
  #expectedHostNs = 0;
  #cardNs = 0;
  #rx: Uint8Array[] = [];
  #tx: Uint8Array | null = null; // remaining response bytes to send
  #lastSent: Uint8Array | null = null;
  #pendingAfterWtx: Uint8Array | null = null;
  #pendingAfterIfs: Uint8Array | null = null;
  #responses = 0;
  #ifsRequested = false;
  #blocksReceived = 0;
  #blocksSent = 0;
  #resynchs = 0;

  constructor(o: T1CardEngineOptions) {
    this.#o = o;
    this.#ifsd = o.ifsd ?? 32;
    this.#ifsc = o.ifsc;
  }

  get state(): T1CardState {
    return {
      ifsd: this.#ifsd,
      ifsc: this.#ifsc,
      ifsdNegotiated: this.#ifsdNegotiated,
      blocksReceived: this.#blocksReceived,
      blocksSent: this.#blocksSent,
      resynchs: this.#resynchs,
    };
  }

  /** The reader negotiated IFSD itself (dwFeatures 0x400). */
  setIfsdByReader(ifsd: number): void {
    this.#ifsd = ifsd;
    this.#ifsdNegotiated = true;
  }

  #edcLen(): number {
    return this.#o.edc === 'lrc' ? 1 : 2;
  }

  #block(pcb: number, inf: Uint8Array = EMPTY): Uint8Array {
    const b = new Uint8Array(3 + inf.length + this.#edcLen());
    b[1] = pcb;
    b[2] = inf.length;
    b.set(inf, 3);
    writeEdc(b, 3 + inf.length, this.#o.edc, this.#o.crcVariant);
    this.#lastSent = b;
    this.#blocksSent++;
    return b;
  }

  #rBlock(error: 0 | 1 | 2): Uint8Array {
    return this.#block(0x80 | (this.#expectedHostNs << 4) | error);
  }

  #iBlock(): Uint8Array {
    const tx = this.#tx!;
    const n = Math.min(tx.length, this.#ifsd);
    const more = tx.length > n;
    const pcb = (this.#cardNs << 6) | (more ? 0x20 : 0);
    const chunk = tx.subarray(0, n);
    this.#tx = more ? tx.subarray(n) : null;
    this.#cardNs ^= 1;
    return this.#block(pcb, chunk);
  }

  /** Validates the EDC and structure (§11.3, §11.4). Returns null when the block is invalid. */
  #check(block: Uint8Array): 'edc' | 'other' | null {
    if (block.length < 3 + this.#edcLen()) return 'edc';
    const len = block[2] ?? 0;
    if (len === 0xff) return 'other';
    if (block.length !== 3 + len + this.#edcLen()) return 'edc';
    if (!hasValidEdc(block, this.#o.edc, this.#o.crcVariant)) return 'edc';
    if ((block[0] ?? 0) & 0x88) return 'other'; // NAD b8/b4 must be 0 (§11.3.2.1)
    return null;
  }

  /** Processes one block from the host and returns the card's answer block. */
  async receive(block: Uint8Array): Promise<Uint8Array> {
    this.#blocksReceived++;
    const problem = this.#check(block);
    if (problem) {
      // Rule 7.1/7.2: answer with an R-block indicating the error; N(R) = expected host N(S).
      return this.#rBlock(problem === 'edc' ? 1 : 2);
    }
    const pcb = block[1] ?? 0;
    const inf = block.subarray(3, 3 + (block[2] ?? 0));
    // Awaited: an async function returning a promise as it is costs two more microtask turns.
    if ((pcb & 0x80) === 0) return await this.#onIBlock(pcb, inf);
    if ((pcb & 0xc0) === 0x80) return this.#onRBlock(pcb, inf);
    return this.#onSBlock(pcb, inf);
  }

  async #onIBlock(pcb: number, inf: Uint8Array): Promise<Uint8Array> {
    const ns = (pcb >> 6) & 1;
    const more = (pcb & 0x20) !== 0;
    if (this.#tx) {
      // Host sent an I-block while we were chaining: abandon our chain (host error recovery).
      this.#tx = null;
    }
    if (ns !== this.#expectedHostNs) return this.#rBlock(2);
    if (inf.length > this.#ifsc) return this.#rBlock(2);
    this.#expectedHostNs ^= 1;
    if (more) {
      this.#rx.push(inf.slice());
      return this.#rBlock(0);
    }
    // The command: the chained INFs joined, or this block's INF alone (copied once either way).
    const apdu = this.#rx.length === 0 ? inf.slice() : concatBytes(...this.#rx, inf);
    this.#rx = [];
    const response = await this.#o.app(apdu);
    this.#responses++;
    this.#tx = response;
    if (this.#o.requestIfsc !== undefined && !this.#ifsRequested) {
      this.#ifsRequested = true;
      this.#pendingAfterIfs = new Uint8Array(0);
      return this.#block(0xc1, Uint8Array.of(this.#o.requestIfsc));
    }
    const every = this.#o.wtxEvery ?? 0;
    if (every > 0 && this.#responses % every === 0) {
      this.#pendingAfterWtx = new Uint8Array(0);
      return this.#block(0xc3, Uint8Array.of(this.#o.wtxMultiplier ?? 2));
    }
    return this.#iBlock();
  }

  #onRBlock(pcb: number, inf: Uint8Array): Uint8Array {
    if (inf.length !== 0 || (pcb & 0x20) !== 0) return this.#rBlock(2);
    const nr = (pcb >> 4) & 1;
    if (this.#tx && nr === this.#cardNs) return this.#iBlock(); // ack of our chained block
    // Otherwise retransmit the last block we sent (Rule 7.2 / 7.3).
    if (this.#lastSent) {
      this.#blocksSent++;
      return this.#lastSent;
    }
    return this.#rBlock(2);
  }

  #onSBlock(pcb: number, inf: Uint8Array): Uint8Array {
    switch (pcb) {
      case 0xc0: // RESYNCH request (Rule 6)
        this.#expectedHostNs = 0;
        this.#cardNs = 0;
        this.#rx = [];
        this.#tx = null;
        this.#resynchs++;
        return this.#block(0xe0);
      case 0xc1: {
        // IFS request from the host: IFSD (§11.4.2)
        const v = inf[0] ?? 0;
        if (inf.length !== 1 || v < 1 || v > 254) return this.#rBlock(2);
        this.#ifsd = v;
        this.#ifsdNegotiated = true;
        return this.#block(0xe1, Uint8Array.of(v));
      }
      case 0xc2: // ABORT request
        this.#rx = [];
        this.#tx = null;
        return this.#block(0xe2);
      case 0xe1: // IFS response to our request
        if (this.#pendingAfterIfs && inf.length === 1 && inf[0] === this.#o.requestIfsc) {
          this.#ifsc = inf[0] ?? this.#ifsc;
          this.#pendingAfterIfs = null;
          return this.#iBlock();
        }
        return this.#rBlock(2);
      case 0xe3: // WTX response
        if (this.#pendingAfterWtx && inf.length === 1 && inf[0] === (this.#o.wtxMultiplier ?? 2)) {
          this.#pendingAfterWtx = null;
          return this.#iBlock();
        }
        return this.#rBlock(2);
      default:
        return this.#rBlock(2);
    }
  }
}
