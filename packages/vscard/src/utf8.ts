/**
 * Minimal UTF-8 (RFC 3629) codec: the package compiles without DOM or Node types, so
 * `TextEncoder`/`TextDecoder` are not declared. Decoding is strict (returns `undefined`
 * on malformed input) so a decoded name re-encodes byte for byte.
 */

/** Encode a string as UTF-8; lone surrogates become U+FFFD like `TextEncoder`. */
export function utf8Encode(s: string): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    let cp = s.charCodeAt(i);
    if (cp >= 0xd800 && cp <= 0xdbff) {
      const next = i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
      if (next >= 0xdc00 && next <= 0xdfff) {
        cp = 0x10000 + ((cp - 0xd800) << 10) + (next - 0xdc00);
        i++;
      } else {
        cp = 0xfffd;
      }
    } else if (cp >= 0xdc00 && cp <= 0xdfff) {
      cp = 0xfffd;
    }
    if (cp < 0x80) out.push(cp);
    else if (cp < 0x800) out.push(0xc0 | (cp >> 6), 0x80 | (cp & 0x3f));
    else if (cp < 0x10000)
      out.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
    else
      out.push(
        0xf0 | (cp >> 18),
        0x80 | ((cp >> 12) & 0x3f),
        0x80 | ((cp >> 6) & 0x3f),
        0x80 | (cp & 0x3f),
      );
  }
  return Uint8Array.from(out);
}

/**
 * Lead bytes of strict UTF-8 (RFC 3629 §4): first and last lead byte, the lead's payload bits,
 * how many continuation bytes follow, and the smallest code point that length may carry.
 */
const LEAD_BYTES = [
  { first: 0x00, last: 0x7f, mask: 0x7f, more: 0, min: 0 },
  { first: 0xc2, last: 0xdf, mask: 0x1f, more: 1, min: 0x80 },
  { first: 0xe0, last: 0xef, mask: 0x0f, more: 2, min: 0x800 },
  { first: 0xf0, last: 0xf4, mask: 0x07, more: 3, min: 0x10000 },
] as const;

/** Decode strict UTF-8 (no overlongs, no surrogates, ≤ U+10FFFF); `undefined` if malformed. */
export function utf8Decode(b: Uint8Array): string | undefined {
  let s = '';
  let i = 0;
  while (i < b.length) {
    const c = b[i] ?? 0;
    const lead = LEAD_BYTES.find(({ first, last }) => c >= first && c <= last);
    if (!lead) return undefined;
    let cp = c & lead.mask;
    for (let k = 1; k <= lead.more; k++) {
      const cc = b[i + k];
      if (cc === undefined || (cc & 0xc0) !== 0x80) return undefined;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if (cp < lead.min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return undefined;
    s += String.fromCodePoint(cp);
    i += lead.more + 1;
  }
  return s;
}
