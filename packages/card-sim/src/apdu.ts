/** ISO/IEC 7816-4 §5.1 command APDU parsing (short and extended forms), used by the card side. */

/** A parsed command APDU. `ne` is the expected response length (Le decoded; 0 = no Le field). */
export interface CommandApdu {
  readonly cla: number;
  readonly ins: number;
  readonly p1: number;
  readonly p2: number;
  readonly data: Uint8Array;
  /** Ne: Le decoded (short 00 = 256, extended 0000 = 65536); null when Le is absent. */
  readonly ne: number | null;
  /** ISO 7816-4 case 1..4. */
  readonly case: 1 | 2 | 3 | 4;
  readonly isExtended: boolean;
}

/** Parses a command APDU; returns null when the bytes are not a well-formed APDU (ISO 7816-4 §5.1). */
export function parseCommandApdu(apdu: Uint8Array): CommandApdu | null {
  if (apdu.length < 4) return null;
  const n = apdu.length;
  const cla = apdu[0] ?? 0;
  const ins = apdu[1] ?? 0;
  const p1 = apdu[2] ?? 0;
  const p2 = apdu[3] ?? 0;
  if (n === 4)
    return { cla, ins, p1, p2, data: new Uint8Array(0), ne: null, case: 1, isExtended: false };
  // Lc, data and Le after the header. The short and extended forms differ only in the width of
  // Lc and Le (1 byte, or 2 after a 00 marker) and in what Le 0 means (256 or 65536).
  const isExtended = n > 5 && apdu[4] === 0;
  const width = isExtended ? 2 : 1;
  const at = isExtended ? 5 : 4; // where Lc (or a lone Le) starts
  if (n === at + width) {
    const ne = lengthField(apdu, at, isExtended) || (isExtended ? 65536 : 256);
    return { cla, ins, p1, p2, data: new Uint8Array(0), ne, case: 2, isExtended };
  }
  const lc = lengthField(apdu, at, isExtended);
  if (lc === 0) return null;
  const dataEnd = at + width + lc;
  if (n !== dataEnd && n !== dataEnd + width) return null;
  const data = apdu.slice(at + width, dataEnd);
  if (n === dataEnd) return { cla, ins, p1, p2, data, ne: null, case: 3, isExtended };
  const ne = lengthField(apdu, dataEnd, isExtended) || (isExtended ? 65536 : 256);
  return { cla, ins, p1, p2, data, ne, case: 4, isExtended };
}

/** Lc or Le at `i`: one byte, or two (big-endian) in the extended form. */
function lengthField(apdu: Uint8Array, i: number, isExtended: boolean): number {
  return isExtended ? ((apdu[i] ?? 0) << 8) | (apdu[i + 1] ?? 0) : (apdu[i] ?? 0);
}

/** Builds a command APDU in the shortest form that fits (short when Lc ≤ 255 and Ne ≤ 256). */
export function buildCommandApdu(cmd: {
  cla: number;
  ins: number;
  p1: number;
  p2: number;
  data?: Uint8Array;
  ne?: number | null;
}): Uint8Array {
  const data = cmd.data ?? new Uint8Array(0);
  const ne = cmd.ne ?? null;
  const extended = data.length > 255 || (ne !== null && ne > 256);
  const out: number[] = [cmd.cla, cmd.ins, cmd.p1, cmd.p2];
  if (!extended) {
    if (data.length > 0) out.push(data.length, ...data);
    if (ne !== null) out.push(ne === 256 ? 0 : ne);
  } else {
    out.push(0);
    if (data.length > 0) out.push(data.length >> 8, data.length & 0xff, ...data);
    if (ne !== null) out.push((ne === 65536 ? 0 : ne) >> 8, (ne === 65536 ? 0 : ne) & 0xff);
  }
  return Uint8Array.from(out);
}
