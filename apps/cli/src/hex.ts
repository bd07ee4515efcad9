/** Hex for people: upper case, bytes separated by spaces. Pure. */
export function formatHex(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes)
    s += `${s === '' ? '' : ' '}${b.toString(16).toUpperCase().padStart(2, '0')}`;
  return s;
}

/**
 * Hex without separators, cut to `maxBytes` bytes with the rest counted
 * (`00A40400…(+12 bytes)`). Pure.
 */
export function compactHex(hex: string, maxBytes: number): string {
  if (hex.length <= maxBytes * 2) return hex;
  return `${hex.slice(0, maxBytes * 2)}…(+${hex.length / 2 - maxBytes} bytes)`;
}
