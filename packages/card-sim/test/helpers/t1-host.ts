/** Test-only T=1 block builders (ISO 7816-3 §11.3), written independently of the card engine. */
export function edcLrc(bytes: Uint8Array): number {
  let x = 0;
  for (const b of bytes) x ^= b;
  return x;
}

export function block(pcb: number, inf: Uint8Array = new Uint8Array(0), nad = 0): Uint8Array {
  const b = Uint8Array.of(nad, pcb, inf.length, ...inf);
  return Uint8Array.of(...b, edcLrc(b));
}

export const iBlock = (ns: number, more: boolean, inf: Uint8Array) =>
  block((ns << 6) | (more ? 0x20 : 0), inf);
export const rBlock = (nr: number, err = 0) => block(0x80 | (nr << 4) | err);
export const sBlock = (type: number, inf?: Uint8Array) => block(type, inf);

export function decodeBlock(b: Uint8Array) {
  const len = b[2]!;
  return {
    nad: b[0]!,
    pcb: b[1]!,
    inf: b.slice(3, 3 + len),
    isEdcOk: b.length === 4 + len && edcLrc(b.subarray(0, 3 + len)) === b[3 + len],
  };
}
