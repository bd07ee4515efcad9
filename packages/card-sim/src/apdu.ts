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
  const [cla, ins, p1, p2] = [apdu[0] ?? 0, apdu[1] ?? 0, apdu[2] ?? 0, apdu[3] ?? 0];
  const base = { cla, ins, p1, p2 };
  const n = apdu.length;
  if (n === 4) return { ...base, data: new Uint8Array(0), ne: null, case: 1, isExtended: false };
  const b4 = apdu[4] ?? 0;
  if (n === 5)
    return {
      ...base,
      data: new Uint8Array(0),
      ne: b4 === 0 ? 256 : b4,
      case: 2,
      isExtended: false,
    };
  if (b4 !== 0) {
    // short case 3 or 4
    if (n === 5 + b4) return { ...base, data: apdu.slice(5), ne: null, case: 3, isExtended: false };
    if (n === 6 + b4) {
      const le = apdu[n - 1] ?? 0;
      return {
        ...base,
        data: apdu.slice(5, 5 + b4),
        ne: le === 0 ? 256 : le,
        case: 4,
        isExtended: false,
      };
    }
    return null;
  }
  // extended: b4 == 0
  if (n === 7) {
    const le = ((apdu[5] ?? 0) << 8) | (apdu[6] ?? 0);
    return {
      ...base,
      data: new Uint8Array(0),
      ne: le === 0 ? 65536 : le,
      case: 2,
      isExtended: true,
    };
  }
  if (n < 8) return null;
  const lc = ((apdu[5] ?? 0) << 8) | (apdu[6] ?? 0);
  if (lc === 0) return null;
  if (n === 7 + lc) return { ...base, data: apdu.slice(7), ne: null, case: 3, isExtended: true };
  if (n === 9 + lc) {
    const le = ((apdu[n - 2] ?? 0) << 8) | (apdu[n - 1] ?? 0);
    return {
      ...base,
      data: apdu.slice(7, 7 + lc),
      ne: le === 0 ? 65536 : le,
      case: 4,
      isExtended: true,
    };
  }
  return null;
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
