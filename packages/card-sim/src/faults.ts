/**
 * Fault injection: which misbehaviours the simulated reader and card show, and when. Every rule
 * is counted per matching event, so schedules are reproducible with the same seed.
 */
import { createRng, type Rng } from './rng.ts';

/**
 * When a fault fires: skip the first `after` matching events, then fire with `probability`
 * (default 1) at most `count` times (default 1; Infinity for always).
 */
export interface FaultRule {
  readonly after?: number;
  readonly probability?: number;
  readonly count?: number;
}

/** All faults the simulator can inject. Absent = never. */
export interface FaultPlan {
  /** RNG seed for probabilistic rules (default 1). */
  readonly seed?: number;
  /** The card is pulled while an XfrBlock is being processed (answer bError 0xFE, bmICCStatus 2). */
  readonly cardPulledMidApdu?: FaultRule;
  /** The reader is unplugged while an XfrBlock is being processed (counted per XfrBlock). */
  readonly unplugMidTransfer?: FaultRule;
  /** One byte of a card T=1 block is flipped once (TPDU readers with T=1 cards). */
  readonly corruptT1Block?: FaultRule;
  /** A bulk-IN transfer returns status 'stall' (endpoint halted until clearHalt). */
  readonly bulkInStall?: FaultRule;
  /** A bulk-OUT transfer returns status 'stall' and the data is not taken. */
  readonly bulkOutStall?: FaultRule;
  /** A zero-length packet is sent before a response (Gemalto CT30 behaviour, ccid.md §4.1). */
  readonly strayZlp?: FaultRule;
  /** The reader answers an XfrBlock with time extensions first. */
  readonly slowReader?: FaultRule & {
    /** Time-extension frames before the answer (default 3). */
    readonly timeExtensions?: number;
    /** bError multiplier in those frames (default 1). */
    readonly multiplier?: number;
    /** Delay between frames, ms (default 0 = next microtask). */
    readonly intervalMs?: number;
  };
  /**
   * A DataBlock answer is cut short: only its first bytes are sent and the rest never comes, as
   * when a reader's transfer is lost mid-message (fewer bytes than dwLength; issue 11 §2).
   */
  readonly cutAnswer?: FaultRule & {
    /** Bytes of the message kept (default: half of it, at least 1, always fewer than its length). */
    readonly keepBytes?: number;
  };
  /** A response longer than one packet is delivered as two transfers (full packets, then rest). */
  readonly splitTransfers?: FaultRule;
  /** A stale SlotStatus with an old bSeq is waiting in the bulk-IN queue when the device is opened. */
  readonly staleFrameAtOpen?: boolean;
}

/** Names of the counted faults. */
export type FaultName = Exclude<keyof FaultPlan, 'seed' | 'staleFrameAtOpen'>;

/** Evaluates a FaultPlan; one instance per simulated reader. */
export class FaultInjector {
  readonly plan: FaultPlan;
  readonly #rng: Rng;
  readonly #seen = new Map<FaultName, number>();
  readonly #fired = new Map<FaultName, number>();

  constructor(plan: FaultPlan = {}) {
    this.plan = plan;
    this.#rng = createRng(plan.seed ?? 1);
  }

  /** Records one matching event for `name` and says whether the fault fires now. */
  shouldFire(name: FaultName): boolean {
    const rule = this.plan[name];
    if (!rule) return false;
    const seen = (this.#seen.get(name) ?? 0) + 1;
    this.#seen.set(name, seen);
    if (seen <= (rule.after ?? 0)) return false;
    const fired = this.#fired.get(name) ?? 0;
    if (fired >= (rule.count ?? 1)) return false;
    const p = rule.probability ?? 1;
    if (p < 1 && this.#rng.next() >= p) return false;
    this.#fired.set(name, fired + 1);
    return true;
  }

  /** How many times each fault fired so far. */
  get firedCounts(): Readonly<Partial<Record<FaultName, number>>> {
    return Object.fromEntries(this.#fired);
  }
}
