/**
 * The header checks read the header's words in place (no header object per frame): they must
 * say exactly what the header object said, for any bytes.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeApduMessage } from '../src/codec.ts';
import {
  CLIENT_TO_HOST_TYPES,
  VSC,
  VSCARD_HEADER_BYTES,
  VSCARD_MAX_PAYLOAD_BYTES,
  checkClientFrame,
  decodeMessage,
  encodeMessage,
  isVscardError,
  peekHeader,
  validateClientFrame,
} from '../src/index.ts';

/**
 * Frames whose header is plausible half the time (types 0–10, length near the size). `size:
 * 'max'`: with the default size almost every frame would be shorter than a header.
 */
const arbFrame = fc
  .tuple(
    fc.uint8Array({ maxLength: 40, size: 'max' }),
    fc.integer({ min: 0, max: 10 }),
    fc.integer({ min: -2, max: 2 }),
    fc.boolean(),
  )
  .map(([bytes, type, skew, isPlausible]) => {
    if (!isPlausible || bytes.length < VSCARD_HEADER_BYTES) return bytes;
    const b = Uint8Array.from(bytes);
    const length = Math.max(0, b.length - VSCARD_HEADER_BYTES + skew);
    b.set([0, 0, 0, type, 0, 0, 0, b[7] ?? 0, 0, 0, 0, length], 0);
    return b;
  });

/** What a thrown VscardError says, or 'ok'. */
function outcome(f: () => unknown): string {
  try {
    f();
    return 'ok';
  } catch (e) {
    if (!isVscardError(e)) throw e;
    return `${e.code}: ${e.message}`;
  }
}

/** The code `checkClientFrame` must refuse with, from the header as `peekHeader` reads it. */
function expectedClientRefusal(frame: Uint8Array): string {
  const h = peekHeader(frame);
  if (h.kind === 'incomplete') return 'VSCARD_TRUNCATED';
  if (h.length > VSCARD_MAX_PAYLOAD_BYTES) return 'VSCARD_PAYLOAD_TOO_LARGE';
  if (frame.length !== VSCARD_HEADER_BYTES + h.length) return 'VSCARD_LENGTH_MISMATCH';
  if (CLIENT_TO_HOST_TYPES.has(h.type)) return 'ok';
  return h.type === VSC.Flush || h.type === VSC.FlushComplete
    ? 'VSCARD_UNEXPECTED_TYPE'
    : 'VSCARD_UNKNOWN_TYPE';
}

describe('header checks without a header object', () => {
  it('checkClientFrame refuses exactly what validateClientFrame throws on, with the same error', () => {
    fc.assert(
      fc.property(arbFrame, (frame) => {
        const refusal = checkClientFrame(frame);
        const thrown = outcome(() => validateClientFrame(frame));
        expect(refusal === null ? 'ok' : `${refusal.code}: ${refusal.message}`).toBe(thrown);
        expect(refusal?.code ?? 'ok').toBe(expectedClientRefusal(frame));
        if (refusal !== null) return;
        const h = peekHeader(frame);
        expect(h.kind === 'header' && CLIENT_TO_HOST_TYPES.has(h.type)).toBe(true);
        expect(validateClientFrame(frame)).toEqual({
          type: h.kind === 'header' && h.type,
          readerId: h.kind === 'header' && h.readerId,
          length: frame.length - VSCARD_HEADER_BYTES,
          bytes: frame,
        });
      }),
      { numRuns: 2000 },
    );
  });

  it('decodeMessage refuses by the header as peekHeader reads it', () => {
    fc.assert(
      fc.property(arbFrame, (frame) => {
        const got = outcome(() => decodeMessage(frame));
        const h = peekHeader(frame);
        if (h.kind === 'incomplete') expect(got).toMatch(/^VSCARD_TRUNCATED: /);
        else if (h.length > VSCARD_MAX_PAYLOAD_BYTES)
          expect(got).toMatch(/^VSCARD_PAYLOAD_TOO_LARGE: /);
        else if (frame.length < VSCARD_HEADER_BYTES + h.length)
          expect(got).toMatch(/^VSCARD_TRUNCATED: /);
        else if (frame.length > VSCARD_HEADER_BYTES + h.length)
          expect(got).toMatch(/^VSCARD_LENGTH_MISMATCH: /);
        else {
          expect(got).not.toMatch(/^VSCARD_(TRUNCATED|PAYLOAD_TOO_LARGE|LENGTH_MISMATCH)/);
          if (got === 'ok') expect(decodeMessage(frame).readerId).toBe(h.readerId);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('encodeApduMessage writes what encodeMessage writes for an APDU', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 0xffffffff }),
        fc.uint8Array({ maxLength: 600, size: 'max' }),
        (id, apdu) => {
          expect(encodeApduMessage(id, apdu)).toEqual(
            encodeMessage({ type: 'APDU', readerId: id, apdu }),
          );
        },
      ),
    );
  });
});
