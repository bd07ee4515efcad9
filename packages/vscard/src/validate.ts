/**
 * The relay's admission check for browser frames (issue 2, vscard-protocol.md §6 rule 8):
 * one WebSocket frame must be exactly one whole VSCard message of a type a client may send.
 */
import { readU32BE } from './u32.ts';
import { VSC, VSCARD_HEADER_BYTES, VSCARD_MAX_PAYLOAD_BYTES } from './constants.ts';
import { VscardError } from './errors.ts';
import type { VscardFrame } from './framer.ts';

/**
 * Types a client may send to QEMU (§2.3): Init, Error, ReaderAdd, ReaderRemove, ATR,
 * CardRemove, APDU. Not FlushComplete: QEMU never sends Flush, so a FlushComplete is always
 * unsolicited, and QEMU answers it with Error 1 (§3) — a reply the browser's session would
 * take for the answer to its own in-flight control message. Not Flush (host→client only).
 */
export const CLIENT_TO_HOST_TYPES: ReadonlySet<number> = new Set([
  VSC.Init,
  VSC.Error,
  VSC.ReaderAdd,
  VSC.ReaderRemove,
  VSC.ATR,
  VSC.CardRemove,
  VSC.APDU,
]);

/**
 * Check one browser frame before it may be written to QEMU; returns it as a frame (`bytes`
 * is `frame` itself, no copy). Only the header is checked, not payload contents (QEMU
 * tolerates odd payloads, §3). Throws {@link VscardError}:
 * - `VSCARD_TRUNCATED`: fewer than 12 bytes;
 * - `VSCARD_PAYLOAD_TOO_LARGE`: declared length > 65524 (QEMU would wedge, §5);
 * - `VSCARD_LENGTH_MISMATCH`: frame size ≠ 12 + declared length (partial or several messages);
 * - `VSCARD_UNKNOWN_TYPE`: not a type of protocol 0.0.2;
 * - `VSCARD_UNEXPECTED_TYPE`: Flush or FlushComplete (see {@link CLIENT_TO_HOST_TYPES}).
 */
export function validateClientFrame(frame: Uint8Array): VscardFrame {
  const refusal = checkClientFrame(frame);
  if (refusal !== null) throw refusal;
  return {
    type: readU32BE(frame, 0),
    readerId: readU32BE(frame, 4),
    length: frame.length - VSCARD_HEADER_BYTES,
    bytes: frame,
  };
}

/**
 * The check of {@link validateClientFrame} without a result object (one call per message on
 * the hot path): null when `frame` may be written to QEMU (its type is then
 * `readU32BE(frame, 0)`), else the {@link VscardError} `validateClientFrame` would throw.
 */
export function checkClientFrame(frame: Uint8Array): VscardError | null {
  if (frame.length < VSCARD_HEADER_BYTES) {
    return new VscardError(
      'VSCARD_TRUNCATED',
      `frame of ${frame.length} bytes is shorter than a VSCard header`,
    );
  }
  const length = readU32BE(frame, 8);
  if (length > VSCARD_MAX_PAYLOAD_BYTES) {
    return new VscardError(
      'VSCARD_PAYLOAD_TOO_LARGE',
      `declared payload length ${length} exceeds ${VSCARD_MAX_PAYLOAD_BYTES}`,
    );
  }
  if (frame.length !== VSCARD_HEADER_BYTES + length) {
    return new VscardError(
      'VSCARD_LENGTH_MISMATCH',
      `frame has ${frame.length - VSCARD_HEADER_BYTES} payload bytes, header declares ${length}`,
    );
  }
  const type = readU32BE(frame, 0);
  if (CLIENT_TO_HOST_TYPES.has(type)) return null;
  if (type === VSC.Flush || type === VSC.FlushComplete) {
    return new VscardError(
      'VSCARD_UNEXPECTED_TYPE',
      `message type ${type} may not be sent by a client to QEMU`,
    );
  }
  return new VscardError('VSCARD_UNKNOWN_TYPE', `unknown message type 0x${type.toString(16)}`);
}
