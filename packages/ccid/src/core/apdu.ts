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
  const fields = n < 4 ? null : n === 4 ? CASE_1 : lengthFields(apdu);
  if (!fields) throw new CcidError('CCID_BAD_APDU', `malformed command APDU (${n} bytes)`);
  return { cla: apdu[0]!, ins: apdu[1]!, p1: apdu[2]!, p2: apdu[3]!, ...fields };
}

type LengthFields = Omit<ParsedApdu, 'cla' | 'ins' | 'p1' | 'p2'>;

const CASE_1: LengthFields = { data: new Uint8Array(0), ne: 0, case: 1, isExtended: false };

/**
 * Lc, data and Le of a body after the header, or null when they do not match its size. A short
 * field is one byte; an extended one two, after a 00 byte (Le 0 then means 65536, not 256).
 */
function lengthFields(apdu: Uint8Array): LengthFields | null {
  const n = apdu.length;
  const isExtended = n > 5 && apdu[4] === 0;
  const size = isExtended ? 2 : 1;
  const start = isExtended ? 5 : 4;
  const read = (at: number): number => (isExtended ? (apdu[at]! << 8) | apdu[at + 1]! : apdu[at]!);
  const neOf = (le: number): number => (le === 0 ? 256 ** size : le);
  if (n === start + size) {
    return { data: new Uint8Array(0), ne: neOf(read(start)), case: 2, isExtended };
  }
  const lc = read(start);
  const end = start + size + lc;
  if (lc === 0 || (n !== end && n !== end + size)) return null;
  const data = apdu.slice(start + size, end);
  if (n === end) return { data, ne: 0, case: 3, isExtended };
  return { data, ne: neOf(read(end)), case: 4, isExtended };
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
