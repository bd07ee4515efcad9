/**
 * Streaming VSCard framing (vscard-protocol.md §2.1, §5): bytes in any split in, whole
 * messages out. The relay uses {@link VscardFramer} to reframe QEMU's TCP stream and forward
 * each message's bytes without re-encoding; {@link VscardDecoder} adds typed decoding.
 */
import { decodePayload, readU32BE, type DecodeOptions, type VscardMessage } from './codec.ts';
import type { Dialect, ErrorCodeByteOrder } from './codec.ts';
import { VSCARD_HEADER_BYTES, VSCARD_MAX_PAYLOAD_BYTES } from './constants.ts';
import { VscardError, isVscardError } from './errors.ts';

/** One whole raw message as cut from the stream. */
export interface VscardFrame {
  /** Header type word (uint32, not checked against any dialect). */
  type: number;
  /** Header reader_id (uint32). */
  readerId: number;
  /** Declared payload length in bytes (= `bytes.length - 12`). */
  length: number;
  /**
   * The whole message, header included. When the message lies entirely inside one pushed
   * chunk this is a `subarray` view of that chunk (no copy: it aliases the caller's memory);
   * when it spans chunks it is a fresh buffer owned by the frame.
   */
  bytes: Uint8Array;
}

/** Framer state: waiting for (the rest of) a header, for (the rest of) a payload, or dead. */
export type FramerState = 'header' | 'payload' | 'failed';

/** Options of {@link VscardFramer}. */
export interface FramerOptions {
  /**
   * Largest declared payload in bytes; a larger header fails the framer as soon as its 12
   * bytes are seen, before any payload is buffered. Default {@link VSCARD_MAX_PAYLOAD_BYTES}
   * (65524). Must be an integer in 0…16 MiB.
   */
  maxPayloadBytes?: number;
}

const MAX_CONFIGURABLE_PAYLOAD_BYTES = 16 * 1024 * 1024;

/**
 * Cuts a byte stream into whole VSCard messages.
 *
 * Memory: at most one partial message is buffered — `bufferedBytes ≤ 12 + maxPayloadBytes` —
 * held in a single buffer allocated once the header is known (no chunk lists). Whole messages
 * inside a chunk are returned as views without copying.
 *
 * Errors: a declared length above the limit throws `VSCARD_PAYLOAD_TOO_LARGE` immediately.
 * After any error the framer is `'failed'` for good (a byte stream cannot resynchronise):
 * every later `push`/`finish` throws `VSCARD_DECODER_FAILED` with the first error as `cause`.
 */
export class VscardFramer {
  readonly #maxPayloadBytes: number;
  #state: FramerState = 'header';
  #error: VscardError | undefined;
  /**
   * Partial header bytes (state 'header'), made on first use: only a chunk that ends inside a
   * header needs it, and a relay holds many framers that never see one.
   */
  #header: Uint8Array | null = null;
  #headerFill = 0;
  /** Message being assembled (state 'payload'): header + payload. */
  #message: Uint8Array | undefined;
  #messageFill = 0;
  #type = 0;
  #readerId = 0;

  constructor(opts: FramerOptions = {}) {
    const max = opts.maxPayloadBytes ?? VSCARD_MAX_PAYLOAD_BYTES;
    if (!Number.isInteger(max) || max < 0 || max > MAX_CONFIGURABLE_PAYLOAD_BYTES) {
      throw new RangeError(
        `maxPayloadBytes must be an integer in 0…${MAX_CONFIGURABLE_PAYLOAD_BYTES}`,
      );
    }
    this.#maxPayloadBytes = max;
  }

  /** `'header'` (between messages or inside a header), `'payload'`, or `'failed'`. */
  get state(): FramerState {
    return this.#state;
  }

  /** Bytes of an incomplete message currently held (0 at a message boundary). */
  get bufferedBytes(): number {
    return this.#state === 'payload' ? this.#messageFill : this.#headerFill;
  }

  /** The error that failed the framer, if any. */
  get error(): VscardError | undefined {
    return this.#error;
  }

  /**
   * Feed the next chunk of the stream; returns the messages it completes, in order (possibly
   * none). Throws {@link VscardError}; see the class comment. If a chunk completes some
   * messages and then hits an oversized header, the error is thrown and those messages are
   * not returned (the connection must be closed anyway).
   */
  push(chunk: Uint8Array): VscardFrame[] {
    if (this.#state === 'failed') throw this.#failedError();
    const out: VscardFrame[] = [];
    const n = chunk.length;
    let off = 0;
    // 1. Finish a partial header.
    if (this.#state === 'header' && this.#headerFill > 0) {
      const header = this.#header as Uint8Array; // kept when the fill became > 0 (step 4)
      const take = Math.min(VSCARD_HEADER_BYTES - this.#headerFill, n);
      header.set(chunk.subarray(0, take), this.#headerFill);
      this.#headerFill += take;
      off = take;
      if (this.#headerFill < VSCARD_HEADER_BYTES) return out;
      this.#headerFill = 0;
      const length = this.#startMessage(header, 0);
      this.#message = new Uint8Array(VSCARD_HEADER_BYTES + length);
      this.#message.set(header, 0);
      this.#messageFill = VSCARD_HEADER_BYTES;
      this.#state = 'payload';
    }
    // 2. Finish a partial payload.
    if (this.#state === 'payload') {
      const msg = this.#message as Uint8Array;
      const take = Math.min(msg.length - this.#messageFill, n - off);
      msg.set(chunk.subarray(off, off + take), this.#messageFill);
      this.#messageFill += take;
      off += take;
      if (this.#messageFill < msg.length) return out;
      out.push({
        type: this.#type,
        readerId: this.#readerId,
        length: msg.length - VSCARD_HEADER_BYTES,
        bytes: msg,
      });
      this.#message = undefined;
      this.#messageFill = 0;
      this.#state = 'header';
    }
    // 3. Fast path: whole messages inside the chunk are returned as views.
    while (n - off >= VSCARD_HEADER_BYTES) {
      const length = this.#startMessage(chunk, off);
      const end = off + VSCARD_HEADER_BYTES + length;
      if (end <= n) {
        out.push({
          type: this.#type,
          readerId: this.#readerId,
          length,
          // The common case, one message per read, hands out the chunk itself (no view).
          bytes: off === 0 && end === n ? chunk : chunk.subarray(off, end),
        });
        off = end;
      } else {
        const msg = new Uint8Array(VSCARD_HEADER_BYTES + length);
        msg.set(chunk.subarray(off), 0);
        this.#message = msg;
        this.#messageFill = n - off;
        this.#state = 'payload';
        return out;
      }
    }
    // 4. Keep a trailing partial header.
    if (off < n) {
      this.#header ??= new Uint8Array(VSCARD_HEADER_BYTES);
      this.#header.set(chunk.subarray(off), 0);
      this.#headerFill = n - off;
    }
    return out;
  }

  /**
   * Declare the end of the stream. Throws `VSCARD_TRUNCATED` (and fails the framer) if a
   * partial message is buffered; otherwise the framer stays usable.
   */
  finish(): void {
    if (this.#state === 'failed') throw this.#failedError();
    const buffered = this.bufferedBytes;
    if (buffered > 0) {
      this.#fail(
        new VscardError(
          'VSCARD_TRUNCATED',
          `stream ended inside a message (${buffered} bytes of ${this.#state} buffered)`,
        ),
      );
    }
  }

  /** Read a header at `b[o…o+12)`, check the limit, remember type/readerId; returns length. */
  #startMessage(b: Uint8Array, o: number): number {
    const length = readU32BE(b, o + 8);
    if (length > this.#maxPayloadBytes) {
      this.#fail(
        new VscardError(
          'VSCARD_PAYLOAD_TOO_LARGE',
          `declared payload length ${length} exceeds ${this.#maxPayloadBytes}`,
        ),
      );
    }
    this.#type = readU32BE(b, o);
    this.#readerId = readU32BE(b, o + 4);
    return length;
  }

  #fail(e: VscardError): never {
    this.#state = 'failed';
    this.#error = e;
    this.#message = undefined;
    this.#messageFill = 0;
    this.#headerFill = 0;
    throw e;
  }

  #failedError(): VscardError {
    return new VscardError(
      'VSCARD_DECODER_FAILED',
      `framer failed earlier (${this.#error?.code ?? 'unknown'}); close the stream`,
      { cause: this.#error },
    );
  }
}

/** Options of {@link VscardDecoder}. */
export interface DecoderOptions extends FramerOptions {
  /** Type numbering; default `'current'`. */
  dialect?: Dialect;
  /** Byte order of Error codes; default `'be'` (host→client, §2.5). */
  errorCodeByteOrder?: ErrorCodeByteOrder;
}

/**
 * Streaming typed decoder: {@link VscardFramer} + payload decoding. Unknown types come out as
 * `Unknown` messages. A payload that is impossible for its type (`VSCARD_BAD_PAYLOAD`) fails
 * the decoder like a framing error (the peer broke the protocol). Byte fields of the returned
 * messages alias the pushed chunk when the message lay inside one chunk.
 */
export class VscardDecoder {
  readonly #framer: VscardFramer;
  readonly #decodeOptions: DecodeOptions;
  #error: VscardError | undefined;

  constructor(opts: DecoderOptions = {}) {
    this.#framer = new VscardFramer(
      opts.maxPayloadBytes === undefined ? {} : { maxPayloadBytes: opts.maxPayloadBytes },
    );
    this.#decodeOptions = {
      dialect: opts.dialect ?? 'current',
      errorCodeByteOrder: opts.errorCodeByteOrder ?? 'be',
    };
  }

  /** `'header'`, `'payload'` or `'failed'` (also after a payload error). */
  get state(): FramerState {
    return this.#error ? 'failed' : this.#framer.state;
  }

  /** Bytes of an incomplete message currently held. */
  get bufferedBytes(): number {
    return this.#error ? 0 : this.#framer.bufferedBytes;
  }

  /** The error that failed the decoder, if any. */
  get error(): VscardError | undefined {
    return this.#error ?? this.#framer.error;
  }

  /** Feed bytes; returns completed messages in order. Throws {@link VscardError}. */
  push(chunk: Uint8Array): VscardMessage[] {
    if (this.#error) throw this.#failedError();
    const frames = this.#framer.push(chunk);
    const out: VscardMessage[] = [];
    for (const f of frames) {
      try {
        out.push(
          decodePayload(
            f.type,
            f.readerId,
            f.bytes.subarray(VSCARD_HEADER_BYTES),
            this.#decodeOptions,
          ),
        );
      } catch (e) {
        if (isVscardError(e)) this.#error = e;
        throw e;
      }
    }
    return out;
  }

  /** End of stream; throws `VSCARD_TRUNCATED` if a partial message is buffered. */
  finish(): void {
    if (this.#error) throw this.#failedError();
    this.#framer.finish();
  }

  #failedError(): VscardError {
    return new VscardError(
      'VSCARD_DECODER_FAILED',
      `decoder failed earlier (${this.#error?.code ?? 'unknown'}); close the stream`,
      { cause: this.#error },
    );
  }
}
