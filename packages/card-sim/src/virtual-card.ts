/**
 * Virtual cards: the card application (APDU in, response out) plus transport knobs the simulated
 * reader honours (protocols from the ATR, T=1 IFSC/EDC/WTX, slowness).
 */
import { parseCommandApdu } from './apdu.ts';
import { buildAtr, parseSimAtr } from './atr.ts';
import { concatBytes, swBytes } from './bytes.ts';
import { CardSimError } from './errors.ts';
import { ascii } from './platform.ts';

/** A card the simulated reader can hold in a slot. */
export interface VirtualCard {
  /** The ATR the card sends after reset (ISO 7816-3 §8); must offer `protocols`. */
  readonly atr: Uint8Array;
  /**
   * Card-level behaviour: one command APDU in, the full response (data + SW1 SW2) out. The
   * transport (T=0 procedure bytes / 61xx / 6Cxx, T=1 blocks) is done by the simulator around it.
   * A case-4 command sent over T=0 arrives without its Le (ISO 7816-3 §12.2.3): return the data
   * anyway, the T=0 layer turns it into 61xx.
   */
  process(apdu: Uint8Array): Promise<Uint8Array> | Uint8Array;
  /** Called on every cold or warm reset (IccPowerOn). */
  reset?(): void;
  /** Protocols the card speaks, as offered in its ATR. */
  readonly protocols: readonly (0 | 1)[];
  /** T=1 IFSC the card announces (TA3); default from the ATR. */
  readonly ifsc?: number;
  /** T=1: the card sends S(WTX request) before every `wtxEvery`-th response (0/absent = never). */
  readonly wtxEvery?: number;
  /** T=1 WTX multiplier (1..255), default 2. */
  readonly wtxMultiplier?: number;
  /** T=1: the card sends S(IFS request) with this IFSC before its first response (once per reset). */
  readonly requestIfsc?: number;
  /**
   * Slow card: the reader answers each XfrBlock with this many time-extension frames
   * (CCID §6.2.7, bStatus 0x80, bError = multiplier) before the final answer.
   */
  readonly timeExtensions?: number;
  /** CRC variant when the ATR selects CRC (ccid.md §14.1): libccid (default) or ISO 13239. */
  readonly crcVariant?: 'libccid' | 'iso13239';
  /** Voltage classes the card accepts (bit0 A 5 V, bit1 B 3 V, bit2 C 1.8 V); default 0x07. */
  readonly voltageClasses?: number;
}

/** The response of a simple applet: data plus status word. */
export function respond(data: Uint8Array, sw: number): Uint8Array {
  return concatBytes(data, swBytes(sw));
}

/**
 * Deterministic loopback applet used by driver tests (`process` of the test cards):
 * - `SELECT` (INS A4): 9000.
 * - `PUT` (INS 0x10, case 1/3): 9000, no data.
 * - `GET` (INS 0x20, case 2): `min(P1P2, Ne)` bytes of the pattern `(i * 7 + P1) & 0xFF`
 *   (Ne = 256 when Le is absent, so the T=0 case-4→3 conversion still works), SW 9000.
 * - `ECHO` (INS 0x30, case 3/4): the command data, truncated to Ne when Le is present, SW 9000.
 * - `STATUS` (INS 0x40): SW = P1P2 (no data), so tests can produce any status word.
 * - anything else: 6D00 (INS not supported); CLA 0xFF: 6E00.
 */
export function loopbackAnswer(apdu: Uint8Array): Uint8Array {
  const cmd = parseCommandApdu(apdu);
  if (!cmd) return swBytes(0x6700);
  if (cmd.cla === 0xff) return swBytes(0x6e00);
  const p1p2 = (cmd.p1 << 8) | cmd.p2;
  switch (cmd.ins) {
    case 0xa4:
    case 0x10:
      return swBytes(0x9000);
    case 0x20: {
      const ne = cmd.ne ?? 256;
      const n = Math.min(p1p2, ne);
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i++) out[i] = (i * 7 + cmd.p1) & 0xff;
      return respond(out, 0x9000);
    }
    case 0x30: {
      const data = cmd.ne === null ? cmd.data : cmd.data.slice(0, cmd.ne);
      return respond(data, 0x9000);
    }
    case 0x40:
      return swBytes(p1p2);
    default:
      return swBytes(0x6d00);
  }
}

/** Options shared by createT0Card / createT1Card. */
export interface TestCardOptions {
  /** Card application; default `loopbackAnswer`. */
  readonly process?: (apdu: Uint8Array) => Promise<Uint8Array> | Uint8Array;
  /** TA1 (FI/DI) to offer, default absent (Fd/Dd). */
  readonly ta1?: number;
  /** Historical bytes, default "cardlend". */
  readonly historical?: Uint8Array;
  /** See VirtualCard.timeExtensions. */
  readonly timeExtensions?: number;
  readonly voltageClasses?: number;
}

const defaultHistorical = ascii('cardlend');

/** A T=0-only card (ATR without TD1: T=0 implicit) running `process` (default loopback). */
export function createT0Card(opts: TestCardOptions = {}): VirtualCard {
  const atr = buildAtr({
    protocols: [0],
    ...(opts.ta1 !== undefined ? { ta1: opts.ta1 } : {}),
    historical: opts.historical ?? defaultHistorical,
  });
  return {
    atr,
    protocols: [0],
    process: opts.process ?? loopbackAnswer,
    ...(opts.timeExtensions !== undefined ? { timeExtensions: opts.timeExtensions } : {}),
    ...(opts.voltageClasses !== undefined ? { voltageClasses: opts.voltageClasses } : {}),
  };
}

/** Options of createT1Card. */
export interface T1CardOptions extends TestCardOptions {
  /** IFSC announced in TA3 (1..254), default 32 (absent from the ATR when 32 and not forced). */
  readonly ifsc?: number;
  /** 'crc' adds TC3 = 01. */
  readonly edc?: 'lrc' | 'crc';
  readonly wtxEvery?: number;
  readonly wtxMultiplier?: number;
  readonly requestIfsc?: number;
  /** Also offer T=0 (ATR offers T=1 first unless `t0First`). */
  readonly alsoT0?: boolean;
  readonly t0First?: boolean;
  readonly crcVariant?: 'libccid' | 'iso13239';
}

/** A T=1 card (optionally T=0 too) with configurable IFSC, EDC, WTX and IFS requests. */
export function createT1Card(opts: T1CardOptions = {}): VirtualCard {
  const protocols: (0 | 1)[] = opts.alsoT0 ? (opts.t0First ? [0, 1] : [1, 0]) : [1];
  const ifsc = opts.ifsc ?? 32;
  if (ifsc < 1 || ifsc > 254) throw new CardSimError('CARD_SIM_BAD_CARD', 'IFSC must be 1..254');
  const atr = buildAtr({
    protocols,
    ...(opts.ta1 !== undefined ? { ta1: opts.ta1 } : {}),
    ifsc,
    tb3: 0x45,
    ...(opts.edc ? { edc: opts.edc } : {}),
    historical: opts.historical ?? defaultHistorical,
  });
  return {
    atr,
    protocols,
    ifsc,
    process: opts.process ?? loopbackAnswer,
    ...(opts.wtxEvery !== undefined ? { wtxEvery: opts.wtxEvery } : {}),
    ...(opts.wtxMultiplier !== undefined ? { wtxMultiplier: opts.wtxMultiplier } : {}),
    ...(opts.requestIfsc !== undefined ? { requestIfsc: opts.requestIfsc } : {}),
    ...(opts.timeExtensions !== undefined ? { timeExtensions: opts.timeExtensions } : {}),
    ...(opts.crcVariant !== undefined ? { crcVariant: opts.crcVariant } : {}),
    ...(opts.voltageClasses !== undefined ? { voltageClasses: opts.voltageClasses } : {}),
  };
}

/** Checks that a card's ATR is well formed and offers the protocols it claims. */
export function validateCard(card: VirtualCard): void {
  const info = parseSimAtr(card.atr);
  for (const p of card.protocols) {
    if (!info.protocols.includes(p)) {
      throw new CardSimError('CARD_SIM_BAD_CARD', `ATR does not offer T=${p}`);
    }
  }
}
