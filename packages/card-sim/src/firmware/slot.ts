/**
 * One reader slot's state, the firmware's reply shape and the RDR_to_PC message encoder
 * (CCID Rev 1.1 §6.2).
 */
import type { SimAtrInfo } from '../atr.ts';
import { writeLe32 } from '../bytes.ts';
import type { ReaderProfile } from '../profiles.ts';
import type { T0CardEngine } from '../t0-card.ts';
import type { T1CardEngine, T1CardState } from '../t1-card.ts';
import type { VirtualCard } from '../virtual-card.ts';

/** Reader-side view of one slot, for tests and diagnostics. */
export interface SlotSnapshot {
  readonly hasCard: boolean;
  readonly isPowered: boolean;
  /** Protocol and FI/DI the card currently runs at (after ATR / PPS). */
  readonly cardProtocol: 0 | 1 | null;
  readonly cardFidi: number;
  /** Protocol and FI/DI the reader is configured for (SetParameters / automatic). */
  readonly readerProtocol: 0 | 1;
  readonly readerParameters: Uint8Array;
  readonly t1: T1CardState | null;
  readonly ppsDone: boolean;
}

/** Everything the firmware keeps about one slot. */
export interface Slot {
  readonly index: number;
  card: VirtualCard | null;
  atr: SimAtrInfo | null;
  powered: boolean;
  cardProtocol: 0 | 1;
  cardFidi: number;
  ppsAllowed: boolean;
  ppsDone: boolean;
  isCardConfused: boolean; // a failed PPS left the card waiting for a reset
  readerProtocol: 0 | 1;
  readerParams: Uint8Array;
  t0: T0CardEngine | null;
  t1: T1CardEngine | null;
  busy: boolean;
  cmdChain: Uint8Array[] | null;
  respChain: Uint8Array | null;
  abortControlSeq: number | null;
  abortBulk: { seq: number } | null;
  changed: boolean;
  clockStatus: number;
  classGetResponse: number;
  classEnvelope: number;
  generation: number;
}

/** The variable part of an RDR_to_PC answer. */
export interface Reply {
  type?: number;
  status?: number; // bmCommandStatus (0 ok, 1 failed, 2 time extension)
  error?: number;
  b9?: number;
  data?: Uint8Array;
}

/** abProtocolDataStructure for T=0 at Fd/Dd (CCID §6.1.7). */
export const T0_DEFAULT_PARAMS = Uint8Array.of(0x11, 0x00, 0x00, 0x0a, 0x00);

/** A failed command: bmCommandStatus 1 with `error` in bError. */
export function failed(error: number): Reply {
  return { status: 1, error };
}

/** An empty slot `index` as the reader starts. */
export function createSlot(index: number, profile: ReaderProfile): Slot {
  return {
    index,
    card: null,
    atr: null,
    powered: false,
    cardProtocol: 0,
    cardFidi: 0x11,
    ppsAllowed: false,
    ppsDone: false,
    isCardConfused: false,
    readerProtocol: 0,
    readerParams: T0_DEFAULT_PARAMS.slice(),
    t0: null,
    t1: null,
    busy: false,
    cmdChain: null,
    respChain: null,
    abortControlSeq: null,
    abortBulk: null,
    changed: false,
    clockStatus: 0,
    classGetResponse: profile.classGetResponse,
    classEnvelope: profile.classEnvelope,
    generation: 0,
  };
}

/** Forgets half-done command and response chains. */
export function clearChains(s: Slot): void {
  s.cmdChain = null;
  s.respChain = null;
}

/** The slot as tests see it. */
export function snapshotOf(s: Slot): SlotSnapshot {
  return {
    hasCard: s.card !== null,
    isPowered: s.powered,
    cardProtocol: s.card && s.powered ? s.cardProtocol : null,
    cardFidi: s.cardFidi,
    readerProtocol: s.readerProtocol,
    readerParameters: s.readerParams.slice(),
    t1: s.t1?.state ?? null,
    ppsDone: s.ppsDone,
  };
}

/** bmICCStatus: 0 active, 1 present and inactive, 2 no card (CCID §6.2.6). */
function iccStatus(s: Slot): number {
  if (!s.card) return 2;
  return s.powered ? 0 : 1;
}

/** Encodes an RDR_to_PC message; `s` without a card (a bad bSlot) reports "no card". */
export function encodeReply(
  type: number,
  s: Slot | { readonly index: number },
  seq: number,
  r: Reply,
): Uint8Array {
  const data = r.data ?? new Uint8Array(0);
  const msg = new Uint8Array(10 + data.length);
  msg[0] = r.type ?? type;
  writeLe32(msg, 1, data.length);
  msg[5] = s.index;
  msg[6] = seq;
  const icc = 'card' in s ? iccStatus(s) : 2;
  msg[7] = ((r.status ?? 0) << 6) | icc;
  msg[8] = r.error ?? 0;
  msg[9] = r.b9 ?? 0;
  msg.set(data, 10);
  return msg;
}
