import { concatBytes } from './bytes.ts';
import { CcidError } from './errors.ts';
import { T1Pcb, buildT1Block, decodeT1Block } from './t1-block.ts';
import type { T1Block, T1CrcVariant } from './t1-block.ts';

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
  /** The last block sent and its kind, for retransmission (two fields: no object per block). */
  #lastBlock: Uint8Array | undefined;
  #lastKind: 'I' | 'R' | 'S' = 'I';
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
    if (this.#state === 'resynch') return this.#inResynch(b);
    if (this.#state === 'ifs') return this.#inIfs(b);
    if (this.#state !== 'sending' && this.#state !== 'receiving')
      return this.#failed(`unexpected block in state ${this.#state}`);
    if (b.kind === 'S') {
      if ((b.pcb & 0x20) === 0) return this.#onSRequest(b.pcb, b.inf);
      return this.#invalid('other'); // unexpected S response
    }
    const isChainPending =
      this.#state === 'sending' && this.#txOffset + this.#txChunk < this.#tx.length;
    if (b.kind === 'R') {
      if (this.#state === 'sending' && isChainPending && b.nr !== this.#ns) {
        // ISO 7816-3 §11.6.2.2: R(N(R) = next N(S)) acknowledges a chained I-block.
        this.#ns ^= 1;
        this.#txOffset += this.#txChunk;
        this.#retries = 0;
        return this.#sendNextI();
      }
      // Sending: the card asks for our last I-block again (rule 7.3); receiving: our R-block was lost.
      return this.#retransmit();
    }
    if (isChainPending || b.ns !== this.#nr) return this.#invalid('other');
    return this.#onIBlock(b);
  }

  #inResynch(b: T1Block): T1Action {
    if (b.kind !== 'S' || b.pcb !== T1Pcb.RESYNCH_RESPONSE) return this.#invalid('other');
    this.#ns = 0;
    this.#nr = 0;
    this.#retries = 0;
    if (this.#op === 'ifs') {
      this.#state = 'ifs';
      return this.#sendS(T1Pcb.IFS_REQUEST, this.#ifsdRequest);
    }
    return this.#startApdu(); // rule 6.3: restart the whole APDU
  }

  #inIfs(b: T1Block): T1Action {
    if (b.kind === 'S' && b.pcb === T1Pcb.IFS_RESPONSE && b.inf[0] === this.#ifsdRequest) {
      this.ifsd = this.#ifsdRequest;
      this.#state = 'idle';
      this.#op = 'none';
      return { type: 'ifsd-accepted', ifsd: this.ifsd };
    }
    if (b.kind === 'S' && (b.pcb & 0x20) === 0) return this.#onSRequest(b.pcb, b.inf);
    return this.#invalid('other');
  }

  /** An I-block from the card with the expected N(S): part or end of the response. */
  #onIBlock(b: Extract<T1Block, { kind: 'I' }>): T1Action {
    if (this.#state === 'sending') {
      this.#ns ^= 1; // the card's I-block acknowledges our last I-block
      this.#state = 'receiving';
      this.#rx = [];
      this.#rxBytes = 0;
    }
    this.#nr ^= 1;
    this.#retries = 0;
    this.#rxBytes += b.inf.length;
    if (this.#rxBytes > this.#maxResponse) return this.#die('response exceeds the response limit');
    if (b.isMore) {
      this.#rx.push(b.inf.slice());
      return this.#send(
        buildT1Block(this.#nad, 0x80 | (this.#nr << 4), new Uint8Array(0), this.edc, this.#variant),
        'R',
        1,
      );
    }
    this.#state = 'idle';
    this.#op = 'none';
    // The response: the chained INFs joined, or this block's INF alone (copied once either way).
    const apdu = this.#rx.length === 0 ? b.inf.slice() : concatBytes([...this.#rx, b.inf]);
    this.#rx = [];
    return { type: 'deliver', apdu };
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
    if (this.#lastBlock !== undefined && this.#lastKind === 'R')
      return this.#send(this.#lastBlock, 'R', 1); // rule 7.2
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
    if (this.#lastBlock === undefined) return this.#invalid('other');
    return this.#send(this.#lastBlock, this.#lastKind, 1);
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
    this.#lastBlock = block;
    this.#lastKind = kind;
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
