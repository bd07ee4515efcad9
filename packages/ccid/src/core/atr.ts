import { CcidError } from './errors.ts';

/** Fi by FI index (ISO/IEC 7816-3:2006 §8.3 table 7); undefined = RFU. */
export const FI_TABLE: readonly (number | undefined)[] = [
  372,
  372,
  558,
  744,
  1116,
  1488,
  1860,
  undefined,
  undefined,
  512,
  768,
  1024,
  1536,
  2048,
  undefined,
  undefined,
];
/** f(max) in kHz by FI index (ISO/IEC 7816-3:2006 §8.3 table 7); undefined = RFU. */
export const FMAX_KHZ_TABLE: readonly (number | undefined)[] = [
  4000,
  5000,
  6000,
  8000,
  12000,
  16000,
  20000,
  undefined,
  undefined,
  5000,
  7500,
  10000,
  15000,
  20000,
  undefined,
  undefined,
];
/** Di by DI index (ISO/IEC 7816-3:2006 §8.3 table 8); undefined = RFU. */
export const DI_TABLE: readonly (number | undefined)[] = [
  undefined,
  1,
  2,
  4,
  8,
  16,
  32,
  64,
  12,
  20,
  undefined,
  undefined,
  undefined,
  undefined,
  undefined,
  undefined,
];

/** Maximum ATR length including TS (ISO/IEC 7816-3:2006 §8.2.1). */
export const ATR_MAX_BYTES = 33;

/** One interface byte group i: TAi TBi TCi TDi (each only if flagged). */
export interface AtrGroup {
  ta?: number;
  tb?: number;
  tc?: number;
  td?: number;
}

/** T=1 parameters (ISO/IEC 7816-3:2006 §11.4) from the group after the first TD (i >= 2) naming T=1. */
export interface AtrT1Parameters {
  /** Card's max information field, 1..254 (default 32; 0xFF clamped to 254 like libccid). */
  ifsc: number;
  /** Block waiting integer 0..15 (default 4). */
  bwi: number;
  /** Character waiting integer 0..15 (default 13). */
  cwi: number;
  /** Error detection code: TCi bit 0 (0 = LRC, 1 = CRC). */
  edc: 'lrc' | 'crc';
}

/** Result of {@link parseAtr}. */
export interface ParsedAtr {
  bytes: Uint8Array;
  convention: 'direct' | 'inverse';
  /** Interface byte groups, index 0 = group 1. */
  groups: AtrGroup[];
  historical: Uint8Array;
  /** TCK byte if present. */
  tck: number | undefined;
  /** True when TCK is not required (T=0 only) or present and the XOR T0..TCK is 0. */
  isTckValid: boolean;
  /** Protocols offered by TD bytes in order of appearance, T=15 excluded; [0] when no TD names one. */
  protocols: number[];
  /** Protocol the card starts with: TA2's in specific mode, else the first offered (ISO 7816-3 §6.3.1). */
  defaultProtocol: number;
  /** TA2 (ISO 7816-3 §8.3): specific mode. `isImplicit` = b5 (parameters not from TA1). */
  specificMode: { protocol: number; canChange: boolean; isImplicit: boolean } | undefined;
  /** TA1 as a byte (0x11 when absent): FI high nibble, DI low nibble. */
  ta1: number;
  fiIndex: number;
  diIndex: number;
  /** Fi and Di values (undefined when RFU). */
  fi: number | undefined;
  di: number | undefined;
  /** TC1: extra guard time N (0 when absent). */
  extraGuardTime: number;
  /** T=0 waiting integer WI from TC2 (default 10). */
  wi: number;
  /** T=1 parameters (defaults when the ATR gives none). */
  t1: AtrT1Parameters;
  /** First TA after T=15 (clock stop b8-b7, class b6-b1), if any. */
  t15Ta: number | undefined;
}

/**
 * Parses an ATR as delivered by a CCID reader (already in direct byte order) per ISO/IEC
 * 7816-3:2006 §8.2-§8.3. Throws CcidError CCID_BAD_ATR on a bad TS, on truncated interface or
 * historical bytes, on more than 33 bytes, or on bytes beyond TCK. A wrong TCK is reported in
 * `isTckValid` (libccid still uses such ATRs) rather than thrown.
 */
export function parseAtr(atr: Uint8Array): ParsedAtr {
  if (atr.length < 2) badAtr('shorter than TS T0');
  if (atr.length > ATR_MAX_BYTES) badAtr(`${atr.length} bytes (max 33)`);
  const ts = atr[0];
  if (ts !== 0x3b && ts !== 0x3f) badAtr(`TS 0x${(ts ?? 0).toString(16)}`);
  const k = (atr[1] ?? 0) & 0x0f;
  const { groups, protocols, end, isTckNeeded } = readInterfaceBytes(atr);
  let off = end;
  if (off + k > atr.length) badAtr('truncated historical bytes');
  const historical = atr.slice(off, off + k);
  off += k;
  let tck: number | undefined;
  if (isTckNeeded && off < atr.length) tck = atr[off++];
  if (off < atr.length) badAtr(`${atr.length - off} bytes after the last ATR field`);
  let x = 0;
  for (let i = 1; i < atr.length; i++) x ^= atr[i] ?? 0;
  const isTckValid = isTckNeeded ? tck !== undefined && x === 0 : true;

  const ta1 = groups[0]?.ta ?? 0x11;
  const ta2 = groups[1]?.ta;
  const specificMode =
    ta2 === undefined
      ? undefined
      : { protocol: ta2 & 0x0f, canChange: (ta2 & 0x80) === 0, isImplicit: (ta2 & 0x10) !== 0 };
  const offered = protocols.length ? protocols : [0];
  const { t1, t15Ta } = specificBytesOf(groups);
  return {
    bytes: atr.slice(),
    convention: ts === 0x3b ? 'direct' : 'inverse',
    groups,
    historical,
    tck,
    isTckValid,
    protocols: offered,
    defaultProtocol: specificMode ? specificMode.protocol : offered[0]!,
    specificMode,
    ta1,
    fiIndex: ta1 >> 4,
    diIndex: ta1 & 0x0f,
    fi: FI_TABLE[ta1 >> 4],
    di: DI_TABLE[ta1 & 0x0f],
    extraGuardTime: groups[0]?.tc ?? 0,
    wi: groups[1]?.tc ?? 10,
    t1,
    t15Ta,
  };
}

function badAtr(why: string): never {
  throw new CcidError('CCID_BAD_ATR', `bad ATR: ${why}`);
}

/** The interface byte groups after T0, the protocols their TDs name, and where they end. */
function readInterfaceBytes(atr: Uint8Array): {
  groups: AtrGroup[];
  protocols: number[];
  end: number;
  isTckNeeded: boolean;
} {
  const groups: AtrGroup[] = [];
  const protocols: number[] = [];
  let y = (atr[1] ?? 0) >> 4;
  let off = 2;
  let isTckNeeded = false;
  const take = (): number => {
    if (off >= atr.length) badAtr('truncated interface bytes');
    return atr[off++] ?? 0;
  };
  for (;;) {
    const g: AtrGroup = {};
    if (y & 1) g.ta = take();
    if (y & 2) g.tb = take();
    if (y & 4) g.tc = take();
    if (y & 8) g.td = take();
    groups.push(g);
    if (g.td === undefined) break;
    const t = g.td & 0x0f;
    if (t !== 0) isTckNeeded = true; // ISO 7816-3 §8.2.5: TCK absent only if T=0 alone is indicated
    if (t !== 15 && !protocols.includes(t)) protocols.push(t);
    y = g.td >> 4;
  }
  return { groups, protocols, end: off, isTckNeeded };
}

/** T=1 parameters and the first T=15 TA from the groups after TD1 (the first of each counts). */
function specificBytesOf(groups: AtrGroup[]): { t1: AtrT1Parameters; t15Ta: number | undefined } {
  const t1: AtrT1Parameters = { ifsc: 32, bwi: 4, cwi: 13, edc: 'lrc' };
  let hasTa = false;
  let hasTb = false;
  let hasTc = false;
  let t15Ta: number | undefined;
  // Group i (1-based) follows TD(i-1); T=1 specific bytes are in groups i >= 3 (ISO 7816-3 §8.2.3, ccid.md §12.2).
  for (let i = 2; i < groups.length; i++) {
    const prevT = (groups[i - 1]?.td ?? 0) & 0x0f;
    const g = groups[i]!;
    if (prevT === 1) {
      if (!hasTa && g.ta !== undefined) {
        hasTa = true;
        t1.ifsc = g.ta === 0xff ? 254 : g.ta === 0 ? 32 : g.ta;
      }
      if (!hasTb && g.tb !== undefined) {
        hasTb = true;
        t1.bwi = g.tb >> 4;
        t1.cwi = g.tb & 0x0f;
      }
      if (!hasTc && g.tc !== undefined) {
        hasTc = true;
        t1.edc = g.tc & 1 ? 'crc' : 'lrc';
      }
    } else if (prevT === 15 && t15Ta === undefined && g.ta !== undefined) {
      t15Ta = g.ta;
    }
  }
  return { t1, t15Ta };
}
