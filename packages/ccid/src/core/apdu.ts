import { CcidError } from './errors.ts';

/** A command APDU split into its fields (ISO/IEC 7816-4:2020 §5.1). */
export interface ParsedApdu {
  cla: number;
  ins: number;
  p1: number;
  p2: number;
  /** Command data (Lc bytes; empty for cases 1 and 2). */
  data: Uint8Array;
  /** Ne, maximum expected response data bytes: 0 when absent, 1..256 short, 1..65536 extended. */
  ne: number;
  /** ISO 7816-4 case 1..4. */
  case: 1 | 2 | 3 | 4;
  isExtended: boolean;
}

/**
 * Parses a command APDU (ISO/IEC 7816-4:2020 §5.1, short and extended length fields). Throws
 * CcidError CCID_BAD_APDU when the length fields do not match the byte count.
 */
export function parseApdu(apdu: Uint8Array): ParsedApdu {
  const n = apdu.length;
  const bad = (): never => {
    throw new CcidError('CCID_BAD_APDU', `malformed command APDU (${n} bytes)`);
  };
  if (n < 4) bad();
  const head = { cla: apdu[0]!, ins: apdu[1]!, p1: apdu[2]!, p2: apdu[3]! };
  const empty = new Uint8Array(0);
  if (n === 4) return { ...head, data: empty, ne: 0, case: 1, isExtended: false };
  const b4 = apdu[4]!;
  if (n === 5) return { ...head, data: empty, ne: b4 === 0 ? 256 : b4, case: 2, isExtended: false };
  if (b4 !== 0) {
    if (n === 5 + b4) return { ...head, data: apdu.slice(5), ne: 0, case: 3, isExtended: false };
    if (n === 6 + b4) {
      const le = apdu[n - 1]!;
      return {
        ...head,
        data: apdu.slice(5, 5 + b4),
        ne: le === 0 ? 256 : le,
        case: 4,
        isExtended: false,
      };
    }
    return bad();
  }
  if (n === 7) {
    const le = (apdu[5]! << 8) | apdu[6]!;
    return { ...head, data: empty, ne: le === 0 ? 65536 : le, case: 2, isExtended: true };
  }
  if (n < 8) return bad();
  const lc = (apdu[5]! << 8) | apdu[6]!;
  if (lc === 0) return bad();
  if (n === 7 + lc) return { ...head, data: apdu.slice(7), ne: 0, case: 3, isExtended: true };
  if (n === 9 + lc) {
    const le = (apdu[n - 2]! << 8) | apdu[n - 1]!;
    return {
      ...head,
      data: apdu.slice(7, 7 + lc),
      ne: le === 0 ? 65536 : le,
      case: 4,
      isExtended: true,
    };
  }
  return bad();
}

/**
 * Encodes a command APDU, choosing short length fields when Lc <= 255 and Ne <= 256, extended
 * otherwise (ISO/IEC 7816-4:2020 §5.1). Throws RangeError for Lc > 65535 or Ne > 65536.
 */
export function encodeApdu(a: {
  cla: number;
  ins: number;
  p1: number;
  p2: number;
  data?: Uint8Array;
  ne?: number;
  /** Force extended length fields even when short ones would do. */
  isExtended?: boolean;
}): Uint8Array {
  const data = a.data ?? new Uint8Array(0);
  const ne = a.ne ?? 0;
  if (data.length > 65535 || ne > 65536 || ne < 0) throw new RangeError('APDU field out of range');
  const isShort = !a.isExtended && data.length <= 255 && ne <= 256;
  const parts: number[] = [a.cla, a.ins, a.p1, a.p2];
  if (isShort) {
    if (data.length) parts.push(data.length);
    const out = new Uint8Array(parts.length + data.length + (ne ? 1 : 0));
    out.set(parts);
    out.set(data, parts.length);
    if (ne) out[out.length - 1] = ne & 0xff;
    return out;
  }
  parts.push(0);
  if (data.length) parts.push(data.length >> 8, data.length & 0xff);
  const out = new Uint8Array(parts.length + data.length + (ne ? 2 : 0));
  out.set(parts);
  out.set(data, parts.length);
  if (ne) {
    out[out.length - 2] = (ne >> 8) & 0xff;
    out[out.length - 1] = ne & 0xff;
  }
  return out;
}
