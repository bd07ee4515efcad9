/** T=1 blocks (ISO/IEC 7816-3:2006 §11.3-§11.4): PCB values, EDC (LRC, CRC), encoding and validation. */
/** CRC flavour for T=1 EDC (ccid.md §14.1): libccid's (init FFFF, no final XOR, high byte first) or ISO/IEC 13239 (X.25: final XOR FFFF, low byte first). */
export type T1CrcVariant = 'libccid' | 'iso13239';

/** LRC: XOR of all bytes (ISO/IEC 7816-3:2006 §11.4.4). */
export function lrc(bytes: Uint8Array, end = bytes.length): number {
  let x = 0;
  for (let i = 0; i < end; i++) x ^= bytes[i]!;
  return x;
}

/** Reflected CCITT CRC-16 (poly 0x8408), init 0xFFFF, no final XOR (check("123456789") = 0x6F91). */
export function crc16(bytes: Uint8Array, end = bytes.length): number {
  let crc = 0xffff;
  for (let i = 0; i < end; i++) {
    crc ^= bytes[i]!;
    for (let b = 0; b < 8; b++) crc = crc & 1 ? (crc >>> 1) ^ 0x8408 : crc >>> 1;
  }
  return crc;
}

/** The EDC bytes for a block prologue+INF. */
export function t1Edc(
  bytes: Uint8Array,
  edc: 'lrc' | 'crc',
  variant: T1CrcVariant = 'libccid',
  end = bytes.length,
): Uint8Array {
  const out = new Uint8Array(edc === 'lrc' ? 1 : 2);
  writeEdc(out, 0, edcValue(bytes, edc, variant, end), edc);
  return out;
}

/** The EDC of the first `end` bytes as one number, its first byte sent in the high half for a CRC. */
function edcValue(
  bytes: Uint8Array,
  edc: 'lrc' | 'crc',
  variant: T1CrcVariant,
  end: number,
): number {
  if (edc === 'lrc') return lrc(bytes, end);
  const c = crc16(bytes, end);
  return variant === 'libccid' ? c : ((~c & 0xff) << 8) | ((~c >> 8) & 0xff);
}

/** Writes an EDC ({@link edcValue}) at `at`. */
function writeEdc(out: Uint8Array, at: number, value: number, edc: 'lrc' | 'crc'): void {
  if (edc === 'lrc') {
    out[at] = value;
  } else {
    out[at] = value >> 8;
    out[at + 1] = value & 0xff;
  }
}

/** PCB values (ISO/IEC 7816-3:2006 §11.3.2). */
export const T1Pcb = {
  RESYNCH_REQUEST: 0xc0,
  RESYNCH_RESPONSE: 0xe0,
  IFS_REQUEST: 0xc1,
  IFS_RESPONSE: 0xe1,
  ABORT_REQUEST: 0xc2,
  ABORT_RESPONSE: 0xe2,
  WTX_REQUEST: 0xc3,
  WTX_RESPONSE: 0xe3,
} as const;

/** Builds one T=1 block: NAD PCB LEN INF EDC. */
export function buildT1Block(
  nad: number,
  pcb: number,
  inf: Uint8Array,
  edc: 'lrc' | 'crc',
  variant: T1CrcVariant = 'libccid',
): Uint8Array {
  if (inf.length > 254) throw new RangeError('T=1 INF is at most 254 bytes');
  const edcLen = edc === 'lrc' ? 1 : 2;
  const out = new Uint8Array(3 + inf.length + edcLen);
  out[0] = nad;
  out[1] = pcb;
  out[2] = inf.length;
  out.set(inf, 3);
  writeEdc(out, 3 + inf.length, edcValue(out, edc, variant, 3 + inf.length), edc);
  return out;
}

/** A decoded T=1 block, or why it is invalid (ISO 7816-3 §11.6.3). */
export type T1Block =
  | { kind: 'I'; ns: number; isMore: boolean; inf: Uint8Array; nad: number }
  | { kind: 'R'; nr: number; error: number; nad: number }
  | { kind: 'S'; pcb: number; inf: Uint8Array; nad: number }
  | { kind: 'invalid'; reason: 'edc' | 'other'; detail: string };

/** Decodes and validates a block (length, LEN ≠ 0xFF, EDC, R-block shape, S-block INF size). */
export function decodeT1Block(
  b: Uint8Array,
  edc: 'lrc' | 'crc',
  variant: T1CrcVariant = 'libccid',
): T1Block {
  const edcLen = edc === 'lrc' ? 1 : 2;
  if (b.length < 3 + edcLen)
    return { kind: 'invalid', reason: 'other', detail: `block of ${b.length} bytes` };
  const len = b[2]!;
  if (len === 0xff || b.length !== 3 + len + edcLen)
    return { kind: 'invalid', reason: 'other', detail: `LEN ${len} vs ${b.length} bytes` };
  const sent = edc === 'lrc' ? b[3 + len]! : (b[3 + len]! << 8) | b[4 + len]!;
  if (sent !== edcValue(b, edc, variant, 3 + len))
    return { kind: 'invalid', reason: 'edc', detail: 'EDC mismatch' };
  const nad = b[0]!;
  const pcb = b[1]!;
  const inf = b.subarray(3, 3 + len);
  if ((pcb & 0x80) === 0) {
    if (pcb & 0x1f) return { kind: 'invalid', reason: 'other', detail: 'I-block PCB RFU bits' };
    return { kind: 'I', ns: (pcb >> 6) & 1, isMore: (pcb & 0x20) !== 0, inf, nad };
  }
  if ((pcb & 0xc0) === 0x80) {
    if (len !== 0 || pcb & 0x20)
      return { kind: 'invalid', reason: 'other', detail: 'malformed R-block' };
    return { kind: 'R', nr: (pcb >> 4) & 1, error: pcb & 0x0f, nad };
  }
  const type = pcb & 0x1f;
  const needsInf = type === 1 || type === 3;
  if ((needsInf && len !== 1) || (!needsInf && len !== 0) || type > 4)
    return { kind: 'invalid', reason: 'other', detail: `malformed S-block 0x${pcb.toString(16)}` };
  return { kind: 'S', pcb, inf, nad };
}
