/**
 * ATR building and the small amount of ATR parsing the simulated card and reader need
 * (ISO/IEC 7816-3 §8). Independent of @cardlend/ccid on purpose.
 */
import { CardSimError } from './errors.ts';

/** What the simulator needs to know about an ATR. */
export interface SimAtrInfo {
  /** Protocols offered by the TDi bytes (T=0 when there is no TD1), in order, without T=15. */
  readonly protocols: readonly (0 | 1)[];
  /** TA1 (FI/DI), 0x11 when absent. */
  readonly ta1: number;
  /** TA2 specific mode: protocol the card is fixed to, or null (negotiable mode). */
  readonly specificProtocol: 0 | 1 | null;
  /** T=1 IFSC from the first TAi (i ≥ 3) after a TD naming T=1 (default 32). */
  readonly ifsc: number;
  /** T=1 EDC from the first TCi (i ≥ 3): 'crc' if bit0 set. */
  readonly edc: 'lrc' | 'crc';
  /** T=1 BWI/CWI byte (default 0x4D). */
  readonly tb3: number;
  readonly historical: Uint8Array;
}

/** Parses the structure of an ATR (ISO 7816-3 §8.2). Throws CardSimError on malformed input. */
export function parseSimAtr(atr: Uint8Array): SimAtrInfo {
  const bad = (why: string): never => {
    throw new CardSimError('CARD_SIM_BAD_CARD', `malformed ATR: ${why}`);
  };
  if (atr.length < 2 || atr.length > 33) bad('length');
  if (atr[0] !== 0x3b && atr[0] !== 0x3f) bad('TS');
  let i: number;
  let y = (atr[1] ?? 0) >> 4;
  const k = (atr[1] ?? 0) & 0x0f;
  i = 2;
  let group = 1;
  let ta1 = 0x11;
  let specificProtocol: 0 | 1 | null = null;
  const protocols: (0 | 1)[] = [];
  let ifsc = 32;
  let edc: 'lrc' | 'crc' = 'lrc';
  let tb3 = 0x4d;
  let needsTck = false;
  let lastT = -1;
  let gotIfsc = false;
  let gotEdc = false;
  let gotTb = false;
  for (;;) {
    const ta = y & 1 ? atr[i++] : undefined;
    const tb = y & 2 ? atr[i++] : undefined;
    const tc = y & 4 ? atr[i++] : undefined;
    const td = y & 8 ? atr[i++] : undefined;
    if (i > atr.length) bad('truncated interface bytes');
    if (group === 1 && ta !== undefined) ta1 = ta;
    if (group === 2 && ta !== undefined) specificProtocol = (ta & 0x0f) === 1 ? 1 : 0;
    if (group >= 3 && lastT === 1) {
      if (ta !== undefined && !gotIfsc) {
        ifsc = ta;
        gotIfsc = true;
      }
      if (tb !== undefined && !gotTb) {
        tb3 = tb;
        gotTb = true;
      }
      if (tc !== undefined && !gotEdc) {
        edc = tc & 1 ? 'crc' : 'lrc';
        gotEdc = true;
      }
    }
    if (td === undefined) break;
    const t = td & 0x0f;
    if (t !== 0) needsTck = true;
    if ((t === 0 || t === 1) && !protocols.includes(t)) protocols.push(t);
    lastT = t;
    y = td >> 4;
    group++;
    if (group > 8) bad('too many TD bytes');
  }
  if (protocols.length === 0) protocols.push(0);
  const end = i + k + (needsTck ? 1 : 0);
  if (end !== atr.length) bad(`length ${atr.length} does not match the structure (${end})`);
  if (needsTck) {
    let x = 0;
    for (let j = 1; j < atr.length; j++) x ^= atr[j] ?? 0;
    if (x !== 0) bad('TCK');
  }
  return { protocols, ta1, specificProtocol, ifsc, edc, tb3, historical: atr.slice(i, i + k) };
}

/** Options for buildAtr. */
export interface BuildAtrOptions {
  /** Offered protocols in order (first = default). */
  readonly protocols: readonly (0 | 1)[];
  /** TA1 FI/DI; omitted = absent (0x11 implied). */
  readonly ta1?: number;
  /** T=1 IFSC (TA3), 1..254; omitted = absent (32 implied). */
  readonly ifsc?: number;
  /** T=1 BWI/CWI (TB3); omitted = absent. */
  readonly tb3?: number;
  /** T=1 EDC; 'crc' adds TC3 = 0x01. */
  readonly edc?: 'lrc' | 'crc';
  /** Historical bytes (max 15). */
  readonly historical?: Uint8Array;
  /** TA2 specific mode for the first protocol. */
  readonly specificMode?: boolean;
}

/** Builds a well-formed direct-convention ATR with a correct TCK (ISO 7816-3 §8.2). */
export function buildAtr(opts: BuildAtrOptions): Uint8Array {
  const hist = opts.historical ?? new Uint8Array(0);
  if (hist.length > 15)
    throw new CardSimError('CARD_SIM_BAD_ARGUMENT', 'at most 15 historical bytes');
  if (opts.protocols.length === 0) throw new CardSimError('CARD_SIM_BAD_ARGUMENT', 'no protocol');
  type Group = { ta?: number; tb?: number; tc?: number };
  const onlyT0 = opts.protocols.every((p) => p === 0);
  // TD protocol list: one TD per offered protocol (none for a T=0-only card in negotiable mode).
  const tds: number[] = onlyT0 && !opts.specificMode ? [] : [...opts.protocols];
  const hasT1Params = opts.ifsc !== undefined || opts.tb3 !== undefined || opts.edc === 'crc';
  if (hasT1Params && tds.lastIndexOf(1) >= 0 && tds.lastIndexOf(1) < 1) tds.push(1); // §8.2.3: i ≥ 3
  const groups: Group[] = Array.from({ length: tds.length + 1 }, () => ({}));
  if (opts.ta1 !== undefined) groups[0]!.ta = opts.ta1;
  if (opts.specificMode) groups[1]!.ta = opts.protocols[0]!;
  if (hasT1Params && tds.includes(1)) {
    const g = groups[tds.lastIndexOf(1) + 1]!;
    if (opts.ifsc !== undefined) g.ta = opts.ifsc;
    if (opts.tb3 !== undefined) g.tb = opts.tb3;
    if (opts.edc === 'crc') g.tc = 0x01;
  }
  const yOf = (gi: number): number => {
    const g = groups[gi] ?? {};
    return (
      (g.ta !== undefined ? 1 : 0) |
      (g.tb !== undefined ? 2 : 0) |
      (g.tc !== undefined ? 4 : 0) |
      (gi < tds.length ? 8 : 0)
    );
  };
  const out: number[] = [0x3b, (yOf(0) << 4) | hist.length];
  for (let gi = 0; gi < groups.length; gi++) {
    const g = groups[gi]!;
    if (g.ta !== undefined) out.push(g.ta);
    if (g.tb !== undefined) out.push(g.tb);
    if (g.tc !== undefined) out.push(g.tc);
    if (gi < tds.length) out.push((yOf(gi + 1) << 4) | tds[gi]!);
  }
  out.push(...hist);
  if (tds.some((t) => t !== 0)) {
    let x = 0;
    for (let j = 1; j < out.length; j++) x ^= out[j]!;
    out.push(x);
  }
  return Uint8Array.from(out);
}
