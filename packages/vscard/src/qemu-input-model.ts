/**
 * A pure model of how QEMU's `ccid-card-passthru` reads the VSCard stream (vscard-protocol.md §5):
 * a 64 KiB input buffer, a write position (`vscard_in_pos`) and the offset of the next header
 * (`vscard_in_hdr`), filled by chardev reads of at most 4 096 bytes that may end anywhere.
 * Rules (source: `qemu/qemu:hw/usb/ccid-card-passthru.c`, unchanged from 2019 to QEMU 10.0;
 * `CHR_READ_BUF_LEN` 4096 in `qemu/qemu:include/chardev/char.h`):
 *
 * - QEMU offers to read `65536 − pos` bytes (`can_read`); the socket chardev reads at most
 *   4 096 of them per call, fewer if fewer have arrived. At `pos = 65536` it offers 0 and never
 *   polls the socket again: nothing but a device re-creation can move `pos` any more (wedged).
 * - Each read is appended at `pos`. Then every complete message at `hdr` (12-byte header +
 *   declared length all present) is handled, in order, and `hdr` moves past it.
 * - Only if `hdr` then equals `pos` (the read ended exactly on a message boundary) are both
 *   rewound to 0. Otherwise the partial message stays where it is, and later reads append
 *   behind it ("buffer creep").
 * - A message whose header sits at `hdr` needs `hdr + 12 + length ≤ 65536`; if not, it can never
 *   complete and the stream is dead from that header on (an oversized length, or an ordinary
 *   message that starts too late after creep).
 *
 * {@link QemuInputBuffer} is this reader as an object: feed it reads, get the messages QEMU
 * handles. It stores bytes only from `hdr` on (the handled prefix is never looked at again).
 */
import { readU32BE } from './codec.ts';
import { VSCARD_HEADER_BYTES } from './constants.ts';

/** `VSCARD_IN_SIZE`: QEMU's input buffer (64 KiB). */
export const QEMU_VSCARD_IN_BYTES = 65536;
/** `CHR_READ_BUF_LEN`: the most a socket chardev reads per call. */
export const QEMU_CHARDEV_READ_BYTES = 4096;

/** One message QEMU handled, as cut from its buffer. `payload` is a fresh copy. */
export interface QemuInputMessage {
  type: number;
  readerId: number;
  length: number;
  payload: Uint8Array;
}

/**
 * - `'ok'`: every byte so far can still be handled.
 * - `'doomed'`: the message at `hdr` cannot fit (`hdr + 12 + length > 65536`, or not even its
 *   header fits); QEMU will never handle it or anything after it, and stops reading for good
 *   as soon as enough bytes arrive to fill the buffer.
 * - `'wedged'`: `pos = 65536`; QEMU no longer reads the socket, not even a FIN.
 */
export type QemuInputStatus = 'ok' | 'doomed' | 'wedged';

/** A snapshot of the reader's registers. */
export interface QemuInputRegisters {
  /** `vscard_in_pos`: bytes in the buffer since the last rewind. */
  pos: number;
  /** `vscard_in_hdr`: offset of the next unhandled header. */
  hdr: number;
}

/** QEMU's reader; see the file comment. Not time-dependent, no I/O. */
export class QemuInputBuffer {
  #pos = 0;
  #hdr = 0;
  /** Bytes `[hdr, pos)` of QEMU's buffer (the partial message), in a growable array. */
  #tail = new Uint8Array(256);

  /** Current `pos` and `hdr`. */
  get registers(): QemuInputRegisters {
    return { pos: this.#pos, hdr: this.#hdr };
  }

  /** What QEMU's `can_read` returns: `65536 − pos`. */
  get canRead(): number {
    return QEMU_VSCARD_IN_BYTES - this.#pos;
  }

  /** The largest single read QEMU may do now: min(4096, canRead). 0 once wedged. */
  get maxReadBytes(): number {
    return Math.min(QEMU_CHARDEV_READ_BYTES, this.canRead);
  }

  /** See {@link QemuInputStatus}. */
  get status(): QemuInputStatus {
    if (this.#pos >= QEMU_VSCARD_IN_BYTES) return 'wedged';
    const partial = this.#pos - this.#hdr;
    if (partial === 0) return 'ok';
    if (this.#hdr + VSCARD_HEADER_BYTES > QEMU_VSCARD_IN_BYTES) return 'doomed';
    if (partial < VSCARD_HEADER_BYTES) return 'ok';
    const length = readU32BE(this.#tail, 8);
    return this.#hdr + VSCARD_HEADER_BYTES + length > QEMU_VSCARD_IN_BYTES ? 'doomed' : 'ok';
  }

  /** Bytes of the partial message QEMU holds (`pos − hdr`). */
  get partialBytes(): number {
    return this.#pos - this.#hdr;
  }

  /**
   * One chardev read of `chunk` (1…{@link maxReadBytes} bytes); returns the messages QEMU
   * handles after it, in order. Throws `RangeError` for a read QEMU cannot do (empty, more
   * than 4 096 bytes, or more than `canRead`) — in particular any read once wedged.
   */
  read(chunk: Uint8Array): QemuInputMessage[] {
    const n = chunk.length;
    if (n < 1 || n > this.maxReadBytes) {
      throw new RangeError(`QEMU cannot read ${n} bytes now (at most ${this.maxReadBytes})`);
    }
    this.#append(chunk);
    this.#pos += n;
    const out: QemuInputMessage[] = [];
    let off = 0;
    let avail = this.#pos - this.#hdr;
    while (avail >= VSCARD_HEADER_BYTES) {
      const length = readU32BE(this.#tail, off + 8);
      if (avail < VSCARD_HEADER_BYTES + length) break;
      out.push({
        type: readU32BE(this.#tail, off),
        readerId: readU32BE(this.#tail, off + 4),
        length,
        payload: this.#tail.slice(off + VSCARD_HEADER_BYTES, off + VSCARD_HEADER_BYTES + length),
      });
      off += VSCARD_HEADER_BYTES + length;
      this.#hdr += VSCARD_HEADER_BYTES + length;
      avail -= VSCARD_HEADER_BYTES + length;
    }
    if (off > 0) this.#tail.copyWithin(0, off, off + avail);
    if (this.#hdr === this.#pos) {
      this.#pos = 0;
      this.#hdr = 0;
    }
    return out;
  }

  /** `CHR_EVENT_BREAK`, or a new device (`device_del` + `device_add`): empty buffer. */
  reset(): void {
    this.#pos = 0;
    this.#hdr = 0;
  }

  #append(chunk: Uint8Array): void {
    const have = this.#pos - this.#hdr;
    const need = have + chunk.length;
    if (need > this.#tail.length) {
      const grown = new Uint8Array(Math.max(need, this.#tail.length * 2));
      grown.set(this.#tail.subarray(0, have));
      this.#tail = grown;
    }
    this.#tail.set(chunk, have);
  }
}

/**
 * Where the reads end when QEMU finds `bytes` already waiting in its socket all at once (one
 * write, nothing arriving while it reads): reads of min(4096, can_read) until the bytes are used
 * up or QEMU stops reading. Returns the handled messages and the final registers; `unread` is
 * the number of bytes left in the socket (> 0 only when wedged).
 */
export function qemuReadsAllAtOnce(
  input: QemuInputBuffer,
  bytes: Uint8Array,
): { messages: QemuInputMessage[]; unread: number } {
  const messages: QemuInputMessage[] = [];
  let off = 0;
  while (off < bytes.length && input.maxReadBytes > 0) {
    const take = Math.min(input.maxReadBytes, bytes.length - off);
    messages.push(...input.read(bytes.subarray(off, off + take)));
    off += take;
  }
  return { messages, unread: bytes.length - off };
}
