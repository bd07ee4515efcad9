import { CcidError } from './errors.ts';

/** A PPS request or response (ISO/IEC 7816-3:2006 §9.2). */
export interface Pps {
  /** Protocol T proposed (PPS0 b4-b1). */
  protocol: number;
  /** PPS1 (FI/DI, same coding as TA1), if present. */
  pps1?: number;
  /** PPS2 (SPU), if present. */
  pps2?: number;
  /** PPS3 (RFU), if present. */
  pps3?: number;
}

/** Builds `PPSS PPS0 [PPS1] [PPS2] [PPS3] PCK` (ISO/IEC 7816-3:2006 §9.2); PCK makes the XOR 0. */
export function buildPps(p: Pps): Uint8Array {
  if (p.protocol < 0 || p.protocol > 15) throw new RangeError('PPS protocol must be 0..15');
  const bytes = [
    0xff,
    (p.protocol & 0x0f) |
      (p.pps1 !== undefined ? 0x10 : 0) |
      (p.pps2 !== undefined ? 0x20 : 0) |
      (p.pps3 !== undefined ? 0x40 : 0),
  ];
  if (p.pps1 !== undefined) bytes.push(p.pps1 & 0xff);
  if (p.pps2 !== undefined) bytes.push(p.pps2 & 0xff);
  if (p.pps3 !== undefined) bytes.push(p.pps3 & 0xff);
  bytes.push(bytes.reduce((x, b) => x ^ b, 0));
  return Uint8Array.from(bytes);
}

/** Parses a PPS message; throws CcidError CCID_PROTOCOL on bad PPSS, length or PCK. */
export function parsePps(bytes: Uint8Array): Pps {
  const fail = (why: string): never => {
    throw new CcidError('CCID_PROTOCOL', `bad PPS: ${why}`);
  };
  if (bytes.length < 3 || bytes[0] !== 0xff) fail('PPSS');
  const pps0 = bytes[1]!;
  if (pps0 & 0x80) fail('PPS0 b8 set');
  let off = 2;
  const p: Pps = { protocol: pps0 & 0x0f };
  if (pps0 & 0x10) p.pps1 = bytes[off++] ?? fail('truncated');
  if (pps0 & 0x20) p.pps2 = bytes[off++] ?? fail('truncated');
  if (pps0 & 0x40) p.pps3 = bytes[off++] ?? fail('truncated');
  if (off + 1 !== bytes.length) fail('length');
  if (bytes.reduce((x, b) => x ^ b, 0) !== 0) fail('PCK');
  return p;
}

/**
 * Checks a PPS response against the request (ISO/IEC 7816-3:2006 §9.3): success when it echoes
 * the request, or echoes PPSS/T and omits PPS1 (then Fd/Dd stay). Returns the FI/DI byte now in
 * force (0x11 when PPS1 was refused).
 */
export function verifyPpsResponse(
  request: Uint8Array,
  response: Uint8Array,
): { ok: true; fiDi: number } | { ok: false; reason: string } {
  let req: Pps;
  let res: Pps;
  try {
    req = parsePps(request);
    res = parsePps(response);
  } catch (e) {
    return { ok: false, reason: (e as Error).message };
  }
  if (res.protocol !== req.protocol)
    return { ok: false, reason: `card answered T=${res.protocol}` };
  if (res.pps1 !== undefined && res.pps1 !== req.pps1) return { ok: false, reason: 'PPS1 differs' };
  if (res.pps2 !== undefined && res.pps2 !== req.pps2) return { ok: false, reason: 'PPS2 differs' };
  if (res.pps3 !== undefined && res.pps3 !== req.pps3) return { ok: false, reason: 'PPS3 differs' };
  return { ok: true, fiDi: res.pps1 ?? 0x11 };
}
