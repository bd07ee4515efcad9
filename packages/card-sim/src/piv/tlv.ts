/** Minimal BER-TLV (ISO/IEC 7816-4 §5.2) for the PIV card: 1-2 byte tags, definite lengths. */

/** One TLV as found in a buffer. */
export interface Tlv {
  readonly tag: number;
  readonly value: Uint8Array;
}

/** Encodes a BER length (short form < 128, else 81 xx / 82 xx xx / 83 xx xx xx). */
export function berLength(n: number): Uint8Array {
  const out = new Uint8Array(berLengthSize(n));
  writeBerLength(out, 0, n);
  return out;
}

/** Bytes of the BER length of `n`. */
function berLengthSize(n: number): number {
  return n < 0x80 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 4;
}

/** Writes the BER length of `n` at `at`; returns where it ends. */
function writeBerLength(out: Uint8Array, at: number, n: number): number {
  const size = berLengthSize(n);
  if (size > 1) out[at++] = 0x80 | (size - 1);
  for (let shift = (size > 1 ? size - 2 : 0) * 8; shift >= 0; shift -= 8) {
    out[at++] = (n >> shift) & 0xff;
  }
  return at;
}

/** Bytes of `tag`: 1, 2 above 0xFF, 3 above 0xFFFF. */
function tagSize(tag: number): number {
  return tag > 0xffff ? 3 : tag > 0xff ? 2 : 1;
}

/**
 * Encodes tag + length + value; tags above 0xFF are written as 2 bytes, above 0xFFFF as 3.
 * One fresh array, written in place (no intermediate copies).
 */
export function tlv(tag: number, ...values: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const v of values) length += v.length;
  const tagBytes = tagSize(tag);
  const out = new Uint8Array(tagBytes + berLengthSize(length) + length);
  for (let i = 0; i < tagBytes; i++) out[i] = (tag >> ((tagBytes - 1 - i) * 8)) & 0xff;
  let at = writeBerLength(out, tagBytes, length);
  for (const v of values) {
    out.set(v, at);
    at += v.length;
  }
  return out;
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
