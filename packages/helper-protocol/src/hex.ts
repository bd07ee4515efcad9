/** Byte strings as lowercase hex, the way the helper protocol carries them. */

const HEX_RE = /^(?:[0-9a-fA-F]{2})*$/;

/** Whether `s` is an even-length hex string (either case). */
export function isHex(s: string): boolean {
  return HEX_RE.test(s);
}

/** Lowercase hex of `bytes`. */
export function bytesToHex(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += b.toString(16).padStart(2, '0');
  return s;
}

/** The bytes of a hex string; throws RangeError when `hex` is not {@link isHex}. */
export function hexToBytes(hex: string): Uint8Array {
  if (!isHex(hex)) throw new RangeError('not a hex byte string');
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** The UTF-8 length of `s` in bytes (what a WebSocket text frame carries). */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 4;
        i++;
      } else n += 3;
    } else n += 3;
  }
  return n;
}
