import { CcidError } from './errors.ts';

/** CRC flavour for T=1 EDC (ccid.md §14.1): libccid's (init FFFF, no final XOR, high byte first) or ISO/IEC 13239 (X.25: final XOR FFFF, low byte first). */
export type T1CrcVariant = 'libccid' | 'iso13239';

/** LRC: XOR of all bytes (ISO/IEC 7816-3:2006 §11.4.4). */
export function lrc(bytes: Uint8Array, end = bytes.length): number {
  let x = 0;
  for (let i = 0; i < end; i++) x ^= bytes[i]!;
  return x;
}

/** Reflected CCITT CRC-16 (poly 0x8408), init 0xFFFF, no final XOR (check("123456789") = 0x6F91). */
export function crc16(bytes: Uint8Array, end = bytes.length): number {
  let crc = 0xffff;
  for (let i = 0; i < end; i++) {
    crc ^= bytes[i]!;
    for (let b = 0; b < 8; b++) crc = crc & 1 ? (crc >>> 1) ^ 0x8408 : crc >>> 1;
  }
  return crc;
}

/** The EDC bytes for a block prologue+INF. */
export function t1Edc(
  bytes: Uint8Array,
  edc: 'lrc' | 'crc',
  variant: T1CrcVariant = 'libccid',
  end = bytes.length,
): Uint8Array {
  if (edc === 'lrc') return Uint8Array.of(lrc(bytes, end));
  const c = crc16(bytes, end);
  return variant === 'libccid'
    ? Uint8Array.of(c >> 8, c & 0xff)
    : Uint8Array.of(~c & 0xff, (~c >> 8) & 0xff);
}

/** PCB values (ISO/IEC 7816-3:2006 §11.3.2). */
export const T1Pcb = {
  RESYNCH_REQUEST: 0xc0,
  RESYNCH_RESPONSE: 0xe0,
  IFS_REQUEST: 0xc1,
  IFS_RESPONSE: 0xe1,
  ABORT_REQUEST: 0xc2,
  ABORT_RESPONSE: 0xe2,
  WTX_REQUEST: 0xc3,
  WTX_RESPONSE: 0xe3,
} as const;

/** Builds one T=1 block: NAD PCB LEN INF EDC. */
export function buildT1Block(
  nad: number,
  pcb: number,
  inf: Uint8Array,
  edc: 'lrc' | 'crc',
  variant: T1CrcVariant = 'libccid',
): Uint8Array {
  if (inf.length > 254) throw new RangeError('T=1 INF is at most 254 bytes');
  const edcLen = edc === 'lrc' ? 1 : 2;
  const out = new Uint8Array(3 + inf.length + edcLen);
  out[0] = nad;
  out[1] = pcb;
  out[2] = inf.length;
  out.set(inf, 3);
  out.set(t1Edc(out, edc, variant, 3 + inf.length), 3 + inf.length);
  return out;
}

/** A decoded T=1 block, or why it is invalid (ISO 7816-3 §11.6.3). */
export type T1Block =
  | { kind: 'I'; ns: number; isMore: boolean; inf: Uint8Array; nad: number }
  | { kind: 'R'; nr: number; error: number; nad: number }
  | { kind: 'S'; pcb: number; inf: Uint8Array; nad: number }
  | { kind: 'invalid'; reason: 'edc' | 'other'; detail: string };

/** Decodes and validates a block (length, LEN ≠ 0xFF, EDC, R-block shape, S-block INF size). */
export function decodeT1Block(
  b: Uint8Array,
  edc: 'lrc' | 'crc',
  variant: T1CrcVariant = 'libccid',
): T1Block {
  const edcLen = edc === 'lrc' ? 1 : 2;
  if (b.length < 3 + edcLen)
    return { kind: 'invalid', reason: 'other', detail: `block of ${b.length} bytes` };
  const len = b[2]!;
  if (len === 0xff || b.length !== 3 + len + edcLen)
    return { kind: 'invalid', reason: 'other', detail: `LEN ${len} vs ${b.length} bytes` };
  const want = t1Edc(b, edc, variant, 3 + len);
  for (let i = 0; i < edcLen; i++)
    if (b[3 + len + i] !== want[i])
      return { kind: 'invalid', reason: 'edc', detail: 'EDC mismatch' };
  const nad = b[0]!;
  const pcb = b[1]!;
  const inf = b.subarray(3, 3 + len);
  if ((pcb & 0x80) === 0) {
    if (pcb & 0x1f) return { kind: 'invalid', reason: 'other', detail: 'I-block PCB RFU bits' };
    return { kind: 'I', ns: (pcb >> 6) & 1, isMore: (pcb & 0x20) !== 0, inf, nad };
  }
  if ((pcb & 0xc0) === 0x80) {
    if (len !== 0 || pcb & 0x20)
      return { kind: 'invalid', reason: 'other', detail: 'malformed R-block' };
    return { kind: 'R', nr: (pcb >> 4) & 1, error: pcb & 0x0f, nad };
  }
  const type = pcb & 0x1f;
  const needsInf = type === 1 || type === 3;
  if ((needsInf && len !== 1) || (!needsInf && len !== 0) || type > 4)
    return { kind: 'invalid', reason: 'other', detail: `malformed S-block 0x${pcb.toString(16)}` };
  return { kind: 'S', pcb, inf, nad };
}

/** Actions of {@link T1Session}. */
export type T1Action =
  /** Send this block; `wtx` is the BWT multiplier granted for the card's answer (1 = none). */
  | { type: 'send'; block: Uint8Array; wtx: number }
  /** The card's whole response APDU. */
  | { type: 'deliver'; apdu: Uint8Array }
  /** S(IFS response) received: the card accepts this IFSD. */
  | { type: 'ifsd-accepted'; ifsd: number }
  | { type: 'failed'; error: CcidError };

/** Options of {@link T1Session}. */
export interface T1SessionOptions {
  /** Card's max INF size (TA3 etc.), 1..254. Default 32. */
  ifsc?: number;
  /** Host's max INF size, 1..254. Default 32 (until an S(IFS) exchange succeeds). */
  ifsd?: number;
  edc?: 'lrc' | 'crc';
  crcVariant?: T1CrcVariant;
  /** NAD sent (default 0); the card must answer with SAD/DAD swapped. */
  nad?: number;
  /** Failed attempts before RESYNCH (ISO 7816-3 §11.6.3.2 rule 7.4.2). Default 3. */
  maxRetries?: number;
  /** RESYNCH attempts before the card is declared dead (rule 6.4). Default 3. */
  maxResynchs?: number;
  /**
   * Largest INF the host puts in one I-block, bytes, on top of IFSC (a sender may always send
   * less than IFSC, ISO/IEC 7816-3:2006 §11.4.2): set it when the reader's
   * dwMaxCCIDMessageLength cannot carry a block of IFSC bytes. Default 254.
   */
  maxSendInf?: number;
  /** Response APDU limit, bytes. Default 65538 (65536 data + SW). */
  maxResponseBytes?: number;
  /** Blocks handled per APDU before giving up (bounds endless WTX/chains). Default 4096. */
  maxBlocksPerApdu?: number;
}

type State = 'idle' | 'sending' | 'receiving' | 'ifs' | 'resynch' | 'dead';

/**
 * T=1 block protocol (ISO/IEC 7816-3:2006 §11) as a pure state machine: I/R/S blocks, chaining
 * both ways (host→card by IFSC, card→host limited by IFSD), S(IFS) both ways, WTX, LRC/CRC,
 * retransmission (rules 7.x) and RESYNCH (rule 6). Time is an input: the adapter calls
 * {@link T1Session.onError} when the reader reports BWT expiry (ICC_MUTE) or a parity error.
 */
export class T1Session {
  ifsc: number;
  ifsd: number;
  readonly edc: 'lrc' | 'crc';
  readonly #variant: T1CrcVariant;
  readonly #nad: number;
  readonly #maxRetries: number;
  readonly #maxResynchs: number;
  readonly #maxResponse: number;
  readonly #maxSendInf: number;
  readonly #maxBlocks: number;
  #state: State = 'idle';
  #ns = 0;
  #nr = 0;
  #tx: Uint8Array = new Uint8Array(0);
  #txOffset = 0;
  #txChunk = 0;
  #rx: Uint8Array[] = [];
  #rxBytes = 0;
  #op: 'apdu' | 'ifs' | 'none' = 'none';
  #ifsdRequest = 0;
  #last: { block: Uint8Array; kind: 'I' | 'R' | 'S' } | undefined;
  #retries = 0;
  #resynchs = 0;
  #blocks = 0;
  #isAbortPending = false;

  constructor(opts: T1SessionOptions = {}) {
    this.ifsc = clampIfs(opts.ifsc ?? 32);
    this.ifsd = clampIfs(opts.ifsd ?? 32);
    this.edc = opts.edc ?? 'lrc';
    this.#variant = opts.crcVariant ?? 'libccid';
    this.#nad = opts.nad ?? 0;
    this.#maxRetries = opts.maxRetries ?? 3;
    this.#maxResynchs = opts.maxResynchs ?? 3;
    this.#maxResponse = opts.maxResponseBytes ?? 65538;
    this.#maxSendInf = clampIfs(opts.maxSendInf ?? 254);
    this.#maxBlocks = opts.maxBlocksPerApdu ?? 4096;
  }

  get state(): State {
    return this.#state;
  }
  /** Host N(S) of the next I-block, and the card N(S) expected next. */
  get sequence(): { ns: number; nr: number } {
    return { ns: this.#ns, nr: this.#nr };
  }

  /** Starts an S(IFS request) announcing `ifsd` (ISO 7816-3 §11.4.2); answer blocks go to {@link onBlock}. */
  negotiateIfsd(ifsd: number): T1Action {
    if (this.#state === 'dead') return this.#failed('card is dead after failed RESYNCH; reset it');
    this.#op = 'ifs';
    this.#ifsdRequest = clampIfs(ifsd);
    this.#begin();
    this.#state = 'ifs';
    return this.#sendS(T1Pcb.IFS_REQUEST, this.#ifsdRequest);
  }

  /** Starts sending a command APDU (chained by IFSC when longer). */
  transmit(apdu: Uint8Array): T1Action {
    if (this.#state === 'dead') return this.#failed('card is dead after failed RESYNCH; reset it');
    if (apdu.length === 0) throw new RangeError('empty APDU');
    this.#op = 'apdu';
    this.#tx = apdu;
    this.#begin();
    return this.#startApdu();
  }

  /** A block arrived from the card (the XfrBlock answer's abData). */
  onBlock(bytes: Uint8Array): T1Action {
    if (++this.#blocks > this.#maxBlocks) return this.#die('too many blocks for one APDU');
    if (this.#isAbortPending) return this.#die('card aborted the chain (S(ABORT request))');
    const b = decodeT1Block(bytes, this.edc, this.#variant);
    if (b.kind === 'invalid') return this.#invalid(b.reason);
    if (b.nad !== swapNibbles(this.#nad)) return this.#invalid('other');
    switch (this.#state) {
      case 'resynch':
        if (b.kind === 'S' && b.pcb === T1Pcb.RESYNCH_RESPONSE) {
          this.#ns = 0;
          this.#nr = 0;
          this.#retries = 0;
          if (this.#op === 'ifs') {
            this.#state = 'ifs';
            return this.#sendS(T1Pcb.IFS_REQUEST, this.#ifsdRequest);
          }
          return this.#startApdu(); // rule 6.3: restart the whole APDU
        }
        return this.#invalid('other');
      case 'ifs':
        if (b.kind === 'S' && b.pcb === T1Pcb.IFS_RESPONSE && b.inf[0] === this.#ifsdRequest) {
          this.ifsd = this.#ifsdRequest;
          this.#state = 'idle';
          this.#op = 'none';
          return { type: 'ifsd-accepted', ifsd: this.ifsd };
        }
        if (b.kind === 'S' && (b.pcb & 0x20) === 0) return this.#onSRequest(b.pcb, b.inf);
        return this.#invalid('other');
      case 'sending':
      case 'receiving':
        break;
      default:
        return this.#failed(`unexpected block in state ${this.#state}`);
    }
    if (b.kind === 'S') {
      if ((b.pcb & 0x20) === 0) return this.#onSRequest(b.pcb, b.inf);
      return this.#invalid('other'); // unexpected S response
    }
    const isChainPending =
      this.#state === 'sending' && this.#txOffset + this.#txChunk < this.#tx.length;
    if (b.kind === 'R') {
      if (this.#state === 'sending') {
        if (isChainPending && b.nr !== this.#ns) {
          // ISO 7816-3 §11.6.2.2: R(N(R) = next N(S)) acknowledges a chained I-block.
          this.#ns ^= 1;
          this.#txOffset += this.#txChunk;
          this.#retries = 0;
          return this.#sendNextI();
        }
        return this.#retransmit(); // asks for our last I-block again (rule 7.3)
      }
      return this.#retransmit(); // receiving: our R-block was lost, send it again
    }
    // I-block from the card.
    if (isChainPending) return this.#invalid('other');
    if (b.ns !== this.#nr) return this.#invalid('other');
    if (this.#state === 'sending') {
      this.#ns ^= 1; // the card's I-block acknowledges our last I-block
      this.#state = 'receiving';
      this.#rx = [];
      this.#rxBytes = 0;
    }
    this.#nr ^= 1;
    this.#retries = 0;
    this.#rx.push(b.inf.slice());
    this.#rxBytes += b.inf.length;
    if (this.#rxBytes > this.#maxResponse) return this.#die('response exceeds the response limit');
    if (b.isMore) {
      return this.#send(
        buildT1Block(this.#nad, 0x80 | (this.#nr << 4), new Uint8Array(0), this.edc, this.#variant),
        'R',
        1,
      );
    }
    this.#state = 'idle';
    this.#op = 'none';
    const out = new Uint8Array(this.#rxBytes);
    let o = 0;
    for (const p of this.#rx) {
      out.set(p, o);
      o += p.length;
    }
    this.#rx = [];
    return { type: 'deliver', apdu: out };
  }

  /** The reader reported no valid answer: 'timeout' (BWT expired, bError ICC_MUTE) or 'parity' (XFR_PARITY_ERROR). */
  onError(kind: 'timeout' | 'parity'): T1Action {
    if (this.#state === 'idle' || this.#state === 'dead')
      return this.#failed(`no exchange in progress (state ${this.#state})`);
    if (++this.#blocks > this.#maxBlocks) return this.#die('too many blocks for one APDU');
    return this.#invalid(kind === 'parity' ? 'edc' : 'other');
  }

  /** Forget sequence numbers and state (after a card reset / new ATR). */
  reset(opts: { ifsc?: number; ifsd?: number } = {}): void {
    this.#state = 'idle';
    this.#ns = 0;
    this.#nr = 0;
    this.#resynchs = 0;
    this.#op = 'none';
    if (opts.ifsc !== undefined) this.ifsc = clampIfs(opts.ifsc);
    if (opts.ifsd !== undefined) this.ifsd = clampIfs(opts.ifsd);
  }

  #begin(): void {
    this.#retries = 0;
    this.#blocks = 0;
    this.#isAbortPending = false;
    this.#rx = [];
    this.#rxBytes = 0;
  }

  #startApdu(): T1Action {
    this.#state = 'sending';
    this.#txOffset = 0;
    this.#rx = [];
    this.#rxBytes = 0;
    return this.#sendNextI();
  }

  #sendNextI(): T1Action {
    const remaining = this.#tx.length - this.#txOffset;
    this.#txChunk = Math.min(remaining, this.ifsc, this.#maxSendInf);
    const isMore = this.#txChunk < remaining;
    const pcb = (this.#ns << 6) | (isMore ? 0x20 : 0);
    return this.#send(
      buildT1Block(
        this.#nad,
        pcb,
        this.#tx.subarray(this.#txOffset, this.#txOffset + this.#txChunk),
        this.edc,
        this.#variant,
      ),
      'I',
      1,
    );
  }

  #onSRequest(pcb: number, inf: Uint8Array): T1Action {
    switch (pcb) {
      case T1Pcb.WTX_REQUEST: {
        const m = inf[0] ?? 1;
        return this.#sendS(T1Pcb.WTX_RESPONSE, m, Math.max(1, m));
      }
      case T1Pcb.IFS_REQUEST: {
        const v = inf[0] ?? 0;
        if (v < 1 || v > 254) return this.#invalid('other');
        this.ifsc = v; // applies to the next I-blocks we build
        return this.#sendS(T1Pcb.IFS_RESPONSE, v);
      }
      case T1Pcb.ABORT_REQUEST:
        this.#isAbortPending = true;
        return this.#send(
          buildT1Block(this.#nad, T1Pcb.ABORT_RESPONSE, new Uint8Array(0), this.edc, this.#variant),
          'S',
          1,
        );
      case T1Pcb.RESYNCH_REQUEST:
        return this.#startResynch(); // the card must not ask; libccid resynchronises
      default:
        return this.#invalid('other');
    }
  }

  #invalid(reason: 'edc' | 'other'): T1Action {
    if (this.#state === 'ifs' && this.#retries + 1 > this.#maxRetries) {
      // libccid t1_negotiate_ifsd(): give up after the tries; IFSD stays at its previous value.
      this.#state = 'idle';
      this.#op = 'none';
      return this.#failed('S(IFS request) not answered');
    }
    if (++this.#retries > this.#maxRetries) return this.#startResynch();
    if (this.#state === 'resynch') return this.#sendS(T1Pcb.RESYNCH_REQUEST, undefined);
    if (this.#state === 'ifs') return this.#sendS(T1Pcb.IFS_REQUEST, this.#ifsdRequest);
    if (this.#last?.kind === 'R') return this.#send(this.#last.block, 'R', 1); // rule 7.2
    const code = reason === 'edc' ? 1 : 2;
    return this.#send(
      buildT1Block(
        this.#nad,
        0x80 | (this.#nr << 4) | code,
        new Uint8Array(0),
        this.edc,
        this.#variant,
      ),
      'R',
      1,
    );
  }

  #retransmit(): T1Action {
    if (++this.#retries > this.#maxRetries) return this.#startResynch();
    if (!this.#last) return this.#invalid('other');
    return this.#send(this.#last.block, this.#last.kind, 1);
  }

  #startResynch(): T1Action {
    if (++this.#resynchs > this.#maxResynchs) return this.#die('RESYNCH failed');
    this.#state = 'resynch';
    this.#retries = 0;
    return this.#sendS(T1Pcb.RESYNCH_REQUEST, undefined);
  }

  #sendS(pcb: number, value: number | undefined, wtx = 1): T1Action {
    const inf = value === undefined ? new Uint8Array(0) : Uint8Array.of(value);
    return this.#send(buildT1Block(this.#nad, pcb, inf, this.edc, this.#variant), 'S', wtx);
  }

  #send(block: Uint8Array, kind: 'I' | 'R' | 'S', wtx: number): T1Action {
    this.#last = { block, kind };
    return { type: 'send', block, wtx };
  }

  #die(why: string): T1Action {
    this.#state = 'dead';
    this.#op = 'none';
    return { type: 'failed', error: new CcidError('CCID_PROTOCOL', `T=1: ${why}`) };
  }

  #failed(why: string): T1Action {
    return { type: 'failed', error: new CcidError('CCID_PROTOCOL', `T=1: ${why}`) };
  }
}

function clampIfs(v: number): number {
  return v < 1 ? 32 : v > 254 ? 254 : v;
}

function swapNibbles(n: number): number {
  return ((n & 0x0f) << 4) | ((n >> 4) & 0x0f);
}
