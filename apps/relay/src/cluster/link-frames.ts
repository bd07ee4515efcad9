/**
 * Message framing on a resume link between relay nodes (cluster/resume-link.ts): the browser's
 * WebSocket messages, its close and its heartbeat travel between the node the browser reached
 * and the node that runs its session. Pure: bytes in any split in, whole frames out.
 *
 * A frame is a 4-byte big-endian payload length, one kind byte, then the payload:
 *
 * | kind | name   | payload                                            |
 * | ---- | ------ | -------------------------------------------------- |
 * | 1    | binary | one binary WebSocket message                       |
 * | 2    | text   | one text WebSocket message (UTF-8)                 |
 * | 3    | close  | close code (uint16 BE), then the reason (UTF-8)    |
 * | 4    | ping   | empty                                              |
 * | 5    | pong   | empty                                              |
 *
 * A length above {@link MAX_LINK_FRAME_PAYLOAD}, an unknown kind, or a malformed close fail
 * the decoder for good ({@link LinkFrameError}; a byte stream cannot resynchronise).
 */

/** Largest payload of one frame: one whole VSCard message to the browser and some room. */
export const MAX_LINK_FRAME_PAYLOAD = 128 * 1024;
/** Longest close reason, bytes (a WebSocket close frame allows 123). */
export const MAX_CLOSE_REASON_BYTES = 123;

const HEADER_BYTES = 5;

const LinkFrameKind = { binary: 1, text: 2, close: 3, ping: 4, pong: 5 } as const;

/** One decoded frame. `data` may be a view of a pushed chunk. */
export type LinkFrame =
  | { readonly kind: 'binary' | 'text'; readonly data: Buffer }
  | { readonly kind: 'close'; readonly code: number; readonly reason: string }
  | { readonly kind: 'ping' | 'pong' };

/** Why the peer's bytes are not frames. */
export type LinkFrameProblem = 'oversized' | 'unknown-kind' | 'bad-close' | 'failed';

export class LinkFrameError extends Error {
  override readonly name = 'LinkFrameError';
  readonly problem: LinkFrameProblem;

  constructor(problem: LinkFrameProblem, message: string) {
    super(message);
    this.problem = problem;
  }
}

/** The bytes of a binary or text message frame. */
export function encodeMessageFrame(data: Uint8Array | string, isBinary: boolean): Buffer {
  const payload = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const out = Buffer.allocUnsafe(HEADER_BYTES + payload.length);
  out.writeUInt32BE(payload.length, 0);
  out[4] = isBinary ? LinkFrameKind.binary : LinkFrameKind.text;
  out.set(payload, HEADER_BYTES);
  return out;
}

/** The bytes of a close frame (the reason cut to {@link MAX_CLOSE_REASON_BYTES} on a character). */
export function encodeCloseFrame(code: number, reason: string): Buffer {
  let text = Buffer.from(reason, 'utf8');
  if (text.length > MAX_CLOSE_REASON_BYTES) {
    let cut = MAX_CLOSE_REASON_BYTES;
    while (cut > 0 && ((text[cut] ?? 0) & 0xc0) === 0x80) cut--; // not inside a character
    text = text.subarray(0, cut);
  }
  const out = Buffer.allocUnsafe(HEADER_BYTES + 2 + text.length);
  out.writeUInt32BE(2 + text.length, 0);
  out[4] = LinkFrameKind.close;
  out.writeUInt16BE(code & 0xffff, HEADER_BYTES);
  out.set(text, HEADER_BYTES + 2);
  return out;
}

/** The bytes of a ping or pong frame. */
export function encodeBeatFrame(kind: 'ping' | 'pong'): Buffer {
  const out = Buffer.alloc(HEADER_BYTES);
  out[4] = LinkFrameKind[kind];
  return out;
}

/** A pong frame's bytes, shared (never written to). */
export const PONG_FRAME: Readonly<Buffer> = encodeBeatFrame('pong');

/**
 * A reader of one link's bytes: each whole frame to `onFrame`, in order; bad bytes to `onBad`
 * once (the reader ignores everything after).
 */
export function frameReader(
  onFrame: (f: LinkFrame) => void,
  onBad: (e: LinkFrameError) => void,
): (chunk: Buffer) => void {
  const decoder = new LinkFrameDecoder();
  let isBad = false;
  return (chunk) => {
    if (isBad) return;
    let frames: LinkFrame[];
    try {
      frames = decoder.push(chunk);
    } catch (e) {
      isBad = true;
      onBad(e as LinkFrameError);
      return;
    }
    for (const f of frames) onFrame(f);
  };
}

/**
 * Cuts a link's byte stream into frames. Memory: at most one partial frame is held, as the
 * chunks it came in (joined once, when the frame is whole: tiny chunks cost no quadratic copy).
 */
export class LinkFrameDecoder {
  #parts: Buffer[] = [];
  #partsBytes = 0;
  /** Bytes the partial frame needs to be whole (0: its header is not complete yet). */
  #needed = 0;
  #error: LinkFrameError | undefined;

  /** Bytes held for an incomplete frame. */
  get bufferedBytes(): number {
    return this.#partsBytes;
  }

  /** The whole frames `chunk` completes; throws {@link LinkFrameError} on bad bytes. */
  push(chunk: Buffer): LinkFrame[] {
    if (this.#error) throw new LinkFrameError('failed', this.#error.message);
    this.#parts.push(chunk);
    this.#partsBytes += chunk.length;
    if (this.#partsBytes < Math.max(this.#needed, HEADER_BYTES)) return [];
    let buf = this.#parts.length === 1 ? chunk : Buffer.concat(this.#parts, this.#partsBytes);
    this.#parts = [];
    this.#partsBytes = 0;
    this.#needed = 0;
    const frames: LinkFrame[] = [];
    try {
      while (buf.length >= HEADER_BYTES) {
        const length = buf.readUInt32BE(0);
        if (length > MAX_LINK_FRAME_PAYLOAD)
          throw new LinkFrameError('oversized', `a link frame of ${length} bytes is too large`);
        if (buf.length < HEADER_BYTES + length) {
          this.#needed = HEADER_BYTES + length;
          break;
        }
        frames.push(frameOf(buf[4] ?? 0, buf.subarray(HEADER_BYTES, HEADER_BYTES + length)));
        buf = buf.subarray(HEADER_BYTES + length);
      }
    } catch (e) {
      this.#error = e as LinkFrameError;
      throw e;
    }
    if (buf.length > 0) {
      this.#parts.push(buf);
      this.#partsBytes = buf.length;
    }
    return frames;
  }
}

function frameOf(kind: number, payload: Buffer): LinkFrame {
  switch (kind) {
    case LinkFrameKind.binary:
      return { kind: 'binary', data: payload };
    case LinkFrameKind.text:
      return { kind: 'text', data: payload };
    case LinkFrameKind.close: {
      if (payload.length < 2 || payload.length > 2 + MAX_CLOSE_REASON_BYTES)
        throw new LinkFrameError('bad-close', 'a link close frame needs a code and a short reason');
      return {
        kind: 'close',
        code: payload.readUInt16BE(0),
        reason: payload.subarray(2).toString('utf8'),
      };
    }
    case LinkFrameKind.ping:
    case LinkFrameKind.pong:
      if (payload.length !== 0)
        throw new LinkFrameError('unknown-kind', 'a link ping or pong carries nothing');
      return { kind: kind === LinkFrameKind.ping ? 'ping' : 'pong' };
    default:
      throw new LinkFrameError('unknown-kind', `unknown link frame kind ${kind}`);
  }
}
