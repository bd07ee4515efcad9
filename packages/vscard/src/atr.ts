/**
 * ATR helpers for lending a card to QEMU: enough of ISO/IEC 7816-3 §8.2 to tell the
 * protocols a card offers, an exact model of QEMU 7.2's own ATR check
 * (vscard-protocol.md §3.1), and the T=0 presentation of T=1-only cards (§4, vector g11).
 * A full ATR parser (PPS, Fi/Di, IFSC…) lives in @cardlend/ccid.
 */
import { VscardError } from './errors.ts';

/** Interface bytes of one level i (ISO 7816-3 §8.2.3: TAi, TBi, TCi, TDi). */
export interface AtrInterfaceLevel {
  /** Level number i, from 1. */
  i: number;
  ta?: number;
  tb?: number;
  tc?: number;
  td?: number;
}

/** Result of {@link parseAtr}. */
export interface ParsedAtr {
  /** Initial character TS: 0x3B direct, 0x3F inverse convention (§8.1). */
  ts: number;
  /** Format byte T0: Y1 (high nibble) and K (low nibble). */
  t0: number;
  /** `'direct'` (3B), `'inverse'` (3F) or `'invalid'`. Bytes after TS are taken as already decoded, as readers report them. */
  convention: 'direct' | 'inverse' | 'invalid';
  /** Interface bytes, one entry per level present. */
  levels: AtrInterfaceLevel[];
  /** The protocol nibble T of every TDi, in order (may repeat, may contain 15); empty if there is no TD1. */
  tdProtocols: number[];
  /**
   * Transmission protocols offered, first appearance first, T=15 (global bytes) excluded.
   * `[0]` when there is no TD1 (T=0 implicit, §8.2.3).
   */
  protocols: number[];
  /** True when no TD1 is present, i.e. T=0 is offered only implicitly. */
  isT0Implicit: boolean;
  /** Number of historical bytes announced by T0 (K, 0–15). */
  historicalLength: number;
  /** Historical bytes actually present (fewer than K if the ATR is cut short). View of the input. */
  historical: Uint8Array;
  /** TCK is mandatory unless only T=0 is indicated (§8.2.5). */
  isTckRequired: boolean;
  /** The byte in TCK's position, if the ATR has one (present even where it is not required). */
  tck?: number;
  /** Whether the XOR of T0…TCK is 0; only set when TCK is required and present. */
  isTckValid?: boolean;
  /** ISO 7816-3 violations found (empty for a valid ATR). */
  problems: string[];
}

/** ISO 7816-3 §8.2.1: at most 32 characters after TS. */
const ISO_MAX_ATR_BYTES = 33;

/**
 * Parse an ATR far enough to tell the protocols offered (ISO 7816-3 §8.2). Never validates
 * away information: soft violations (bad TS, bad or missing TCK, extra or missing bytes) are
 * listed in `problems`. Throws {@link VscardError} `VSCARD_BAD_ATR` only when the structure
 * cannot be read at all: fewer than 2 bytes, or interface bytes running past the end.
 */
export function parseAtr(atr: Uint8Array): ParsedAtr {
  if (atr.length < 2) {
    throw new VscardError('VSCARD_BAD_ATR', `ATR of ${atr.length} bytes has no T0`);
  }
  const ts = atr[0] ?? 0;
  const t0 = atr[1] ?? 0;
  const problems: string[] = [];
  const convention = ts === 0x3b ? 'direct' : ts === 0x3f ? 'inverse' : 'invalid';
  if (convention === 'invalid') problems.push(`bad TS 0x${ts.toString(16)}`);
  const levels: AtrInterfaceLevel[] = [];
  const tdProtocols: number[] = [];
  let y = t0 >> 4;
  let pos = 2;
  for (let i = 1; y !== 0; i++) {
    const level: AtrInterfaceLevel = { i };
    const next = (): number => {
      const b = atr[pos];
      if (b === undefined) {
        throw new VscardError(
          'VSCARD_BAD_ATR',
          `ATR ends inside the interface bytes of level ${i}`,
        );
      }
      pos++;
      return b;
    };
    if (y & 0x1) level.ta = next();
    if (y & 0x2) level.tb = next();
    if (y & 0x4) level.tc = next();
    if (y & 0x8) {
      const td = next();
      level.td = td;
      tdProtocols.push(td & 0x0f);
      y = td >> 4;
    } else {
      y = 0;
    }
    levels.push(level);
  }
  const historicalLength = t0 & 0x0f;
  const historical = atr.subarray(pos, Math.min(atr.length, pos + historicalLength));
  pos += historical.length;
  const isTckRequired = tdProtocols.some((t) => t !== 0);
  const protocols: number[] = [];
  for (const t of tdProtocols.length === 0 ? [0] : tdProtocols) {
    if (t !== 15 && !protocols.includes(t)) protocols.push(t);
  }
  const expectedLength = pos - historical.length + historicalLength + (isTckRequired ? 1 : 0);
  const result: ParsedAtr = {
    ts,
    t0,
    convention,
    levels,
    tdProtocols,
    protocols,
    isT0Implicit: tdProtocols.length === 0,
    historicalLength,
    historical,
    isTckRequired,
    problems,
  };
  if (historical.length < historicalLength || atr.length !== expectedLength) {
    problems.push(`length ${atr.length}, expected ${expectedLength}`);
  }
  const tck = historical.length === historicalLength ? atr[pos] : undefined;
  if (tck !== undefined) result.tck = tck;
  if (isTckRequired && tck !== undefined) {
    let x = 0;
    for (let k = 1; k <= pos; k++) x ^= atr[k] ?? 0;
    result.isTckValid = x === 0;
    if (x !== 0) problems.push('bad TCK');
  }
  if (atr.length > ISO_MAX_ATR_BYTES) problems.push(`longer than ${ISO_MAX_ATR_BYTES} bytes`);
  return result;
}

/** QEMU's `MAX_ATR_SIZE` (`qemu/qemu:hw/usb/ccid-card-passthru.c`). */
export const QEMU_MAX_ATR_BYTES = 40;

/** Result of {@link qemu72AcceptsAtr}; `reason` mirrors QEMU's log line. */
export type QemuAtrVerdict =
  | {
      ok: true;
      /** Length QEMU's (buggy) structure count expects; QEMU lets longer ATRs through. */
      expectedLength: number;
    }
  | { ok: false; reason: string };

/**
 * Predict exactly whether QEMU 7.2's `ccid-card-passthru` accepts an ATR (Error 0) or
 * refuses it (Error 1), vscard-protocol.md §3.1 and vector s07. Model of `check_atr` in
 * `qemu/qemu:hw/usb/ccid-card-passthru.c` (unchanged in all current QEMUs):
 * - length > 40 → "ATR size exceeds spec"; length < 2 → inconsistent; TS ∉ {3B, 3F} → inconsistent;
 * - interface bytes are counted for at most two TD levels, and after a TD the next Y nibble
 *   is read from the byte *after* that TD (off by one), so e.g. `3B 84 01 56 53 43 44 87`
 *   is refused;
 * - an ATR shorter than 2 + K + counted interface bytes is refused; longer is let through;
 * - TCK is never checked.
 */
export function qemu72AcceptsAtr(atr: Uint8Array): QemuAtrVerdict {
  const len = atr.length;
  if (len > QEMU_MAX_ATR_BYTES) return { ok: false, reason: 'ATR size exceeds spec' };
  if (len < 2) return { ok: false, reason: `ATR is inconsistent: length ${len} < 2` };
  const ts = atr[0] ?? 0;
  const t0 = atr[1] ?? 0;
  const historicalLength = t0 & 0x0f;
  if (ts !== 0x3b && ts !== 0x3f) {
    return { ok: false, reason: `ATR is inconsistent: TS 0x${ts.toString(16)} not in {3B, 3F}` };
  }
  let optBytes = 0;
  let tdCount = 0;
  let td = t0 >> 4;
  while (td !== 0 && tdCount < 2 && optBytes + historicalLength + 2 < len) {
    tdCount++;
    if (td & 0x1) optBytes++;
    if (td & 0x2) optBytes++;
    if (td & 0x4) optBytes++;
    if (td & 0x8) {
      optBytes++;
      // QEMU reads data[opt_bytes + 2]: the byte after TD (bug). When that index is past the
      // ATR, the loop condition fails next, so the stale byte QEMU reads never matters.
      td = (atr[optBytes + 2] ?? 0) >> 4;
    }
  }
  const expectedLength = 2 + historicalLength + optBytes;
  if (len < expectedLength) {
    return {
      ok: false,
      reason: `ATR is inconsistent: length ${len}, QEMU expects at least ${expectedLength}`,
    };
  }
  return { ok: true, expectedLength };
}

/**
 * Present a card whose ATR offers no T=0 (typically T=1 only) as an implicit-T=0 card:
 * `3B 0K` + its K historical bytes (no interface bytes, no TCK). QEMU 7.2's reader announces
 * T=0 only and the Linux guest (libccid) refuses T=1 ATRs; with this form the guest connects
 * with T=0 and APDUs pass unchanged (vscard-protocol.md §4, verified in vector g11:
 * YubiKey → `3B0D8073C021C057597562694B6579`). See README for the trade-off.
 *
 * - An ATR that already offers T=0 (explicitly or implicitly) is returned unchanged (a copy).
 * - The result always passes {@link qemu72AcceptsAtr} (length = 2 + K exactly).
 * - K is a nibble, so there are never more than 15 historical bytes; if the ATR is cut short,
 *   the bytes present are used and K is lowered to match.
 * - TS becomes 3B: readers report the bytes after TS already decoded.
 * Throws {@link VscardError} `VSCARD_BAD_ATR` if the ATR cannot be parsed.
 */
export function toQemuT0CompatibleAtr(atr: Uint8Array): Uint8Array {
  const parsed = parseAtr(atr);
  if (parsed.protocols.includes(0)) return atr.slice();
  const out = new Uint8Array(2 + parsed.historical.length);
  out[0] = 0x3b;
  out[1] = parsed.historical.length;
  out.set(parsed.historical, 2);
  return out;
}
