/** Minimal BER-TLV (ISO/IEC 7816-4 §5.2) for the PIV card: 1-2 byte tags, definite lengths. */
import { concatBytes } from '../bytes.ts';

/** One TLV as found in a buffer. */
export interface Tlv {
  readonly tag: number;
  readonly value: Uint8Array;
}

/** Encodes a BER length (short form < 128, else 81 xx / 82 xx xx / 83 xx xx xx). */
export function berLength(n: number): Uint8Array {
  if (n < 0x80) return Uint8Array.of(n);
  if (n < 0x100) return Uint8Array.of(0x81, n);
  if (n < 0x10000) return Uint8Array.of(0x82, n >> 8, n & 0xff);
  return Uint8Array.of(0x83, n >> 16, (n >> 8) & 0xff, n & 0xff);
}

/** Encodes tag + length + value; tags above 0xFF are written as 2 bytes, above 0xFFFF as 3. */
export function tlv(tag: number, ...values: Uint8Array[]): Uint8Array {
  const value = concatBytes(...values);
  const tagBytes =
    tag > 0xffff
      ? Uint8Array.of(tag >> 16, (tag >> 8) & 0xff, tag & 0xff)
      : tag > 0xff
        ? Uint8Array.of(tag >> 8, tag & 0xff)
        : Uint8Array.of(tag);
  return concatBytes(tagBytes, berLength(value.length), value);
}

/** Parses a sequence of TLVs; returns null when malformed (truncated, bad length form). */
export function parseTlvs(bytes: Uint8Array): Tlv[] | null {
  const out: Tlv[] = [];
  let i = 0;
  while (i < bytes.length) {
    let tag = bytes[i++]!;
    if ((tag & 0x1f) === 0x1f) {
      // multi-byte tag (ISO 7816-4 §5.2.2.1)
      let b: number;
      do {
        if (i >= bytes.length) return null;
        b = bytes[i++]!;
        tag = (tag << 8) | b;
      } while (b & 0x80);
    }
    if (i >= bytes.length) return null;
    let len = bytes[i++]!;
    if (len === 0x80 || len > 0x83) return null;
    if (len > 0x80) {
      const n = len & 0x7f;
      if (i + n > bytes.length) return null;
      len = 0;
      for (let k = 0; k < n; k++) len = (len << 8) | bytes[i++]!;
    }
    if (i + len > bytes.length) return null;
    out.push({ tag, value: bytes.subarray(i, i + len) });
    i += len;
  }
  return out;
}

/** First TLV with `tag` in `bytes`, or undefined. */
export function findTlv(bytes: Uint8Array, tag: number): Uint8Array | undefined {
  return parseTlvs(bytes)?.find((t) => t.tag === tag)?.value;
}
