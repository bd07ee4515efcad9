/**
 * The relay's forward guard (issue 11 §1): for every message about to be written to QEMU it
 * decides "forward" or "refuse (close code, reason)", so that nothing forwarded can leave QEMU's
 * input buffer unable to read (vscard-protocol.md §5; model: qemu-input-model.ts). Messages from
 * QEMU are events it consumes. Pure: no I/O, no clock.
 *
 * Why it is safe. QEMU rewinds its 64 KiB buffer only when a read ends on a message boundary.
 * The relay writes whole messages only, so whenever QEMU has read *everything* written so far,
 * the last read ended on a boundary and the buffer is empty. The guard knows that moment only
 * from a reply: when QEMU's reply to control message M arrives and nothing was written after M,
 * QEMU read M's last byte with nothing behind it — the buffer was rewound right after M. From
 * such a point on, QEMU has at most the bytes written since then in its buffer. The guard keeps
 * that count ("unproven bytes") ≤ 65 536, so every message fits wherever it starts, whatever the
 * read boundaries. To keep long sessions (many APDU answers, which QEMU never acknowledges)
 * under the limit, it asks the relay to write a side-effect-free Init ("probe", §6 rule 2)
 * when the count passes a threshold; QEMU's Init reply to it is dropped, never shown to the page.
 *
 * Protocol rules for browser messages (refusal = the session ends):
 * - exactly one whole message of a client type (`checkClientFrame`) — else `BAD_FRAME`;
 * - per-type size caps: APDU answer ≤ 374 (QEMU loses longer ones, §4), Error = 4, ATR ≤ 40,
 *   ReaderAdd name ≤ 255, Init ≤ 72, CardRemove/ReaderRemove empty;
 * - APDU/Error answers only while a guest command waits for one;
 * - at most one control message (Init, ReaderAdd, ATR, CardRemove, ReaderRemove) awaiting its
 *   reply;
 * - the unproven-bytes budget above.
 * Protocol violations close with `RelayClose.PROTOCOL_VIOLATION`.
 *
 * Assumption: QEMU's buffer is empty when the session starts — true when every earlier client of
 * this VM wrote whole messages only (the relay does; a stale partial message, §5 s16, breaks any
 * client).
 */
import { clientInit, encodeMessage } from './codec.ts';
import { VSC, VSCARD_HEADER_BYTES, VSCARD_MAX_GUEST_ANSWER_BYTES } from './constants.ts';
import { QEMU_VSCARD_IN_BYTES } from './qemu-input-model.ts';
import { RelayClose } from './relay-close.ts';
import { readU32BE } from './u32.ts';
import { checkClientFrame } from './validate.ts';

/** Which rule refused a message. */
export type GuardRule =
  'bad-frame' | 'too-long' | 'answer-without-command' | 'control-in-flight' | 'input-budget';

/** Decision for a message towards QEMU. */
export type ToVmDecision =
  /** Write the message; then, if `probe` is set, write those bytes right after it. */
  | { action: 'forward'; probe?: Uint8Array }
  /** Do not write it; close the browser with `closeCode` / `reason` (≤ 123 bytes). */
  | { action: 'refuse'; closeCode: number; reason: string; rule: GuardRule };

/**
 * Decision for a message from QEMU: `'forward'` it to the browser, or `'drop'` it (the reply to
 * the guard's probe or to a message the relay sent itself). If `probe` is set, write it to QEMU.
 */
export interface FromVmDecision {
  action: 'forward' | 'drop';
  probe?: Uint8Array;
}

/** Who wrote a message to QEMU: the browser, or the relay itself (cleanup, split answers). */
export type GuardOrigin = 'browser' | 'relay';

/** Options of {@link ForwardGuard}. */
export interface ForwardGuardOptions {
  /** Largest APDU answer; default 374 ({@link VSCARD_MAX_GUEST_ANSWER_BYTES}, QEMU 7.2 and 10.0). */
  maxAnswerBytes?: number;
  /** Unproven bytes allowed in QEMU's buffer; default and maximum 65 536. */
  inputBudgetBytes?: number;
  /** Probe when this many bytes are unproven; default 16 384. Must be < the budget. */
  probeThresholdBytes?: number;
}

/** A control message awaiting QEMU's reply. */
interface Expected {
  reply: 'Init' | 'Error';
  /** Stream offset just after the message. */
  end: number;
  origin: GuardOrigin | 'probe';
  /** ATR, CardRemove, ReaderRemove: QEMU settles every waiting guest command. */
  isFlushing: boolean;
}

const CONTROL_REPLY: ReadonlyMap<number, 'Init' | 'Error'> = new Map([
  [VSC.Init, 'Init'],
  [VSC.ReaderAdd, 'Error'],
  [VSC.ATR, 'Error'],
  [VSC.CardRemove, 'Error'],
  [VSC.ReaderRemove, 'Error'],
]);
const FLUSHING: ReadonlySet<number> = new Set([VSC.ATR, VSC.CardRemove, VSC.ReaderRemove]);
/** Largest payload per client type but APDU (whose cap is each guard's `maxAnswerBytes`). */
const MAX_PAYLOAD: Readonly<Record<number, number>> = Object.freeze({
  [VSC.Init]: 72,
  [VSC.Error]: 4,
  [VSC.ReaderAdd]: 255,
  [VSC.ReaderRemove]: 0,
  [VSC.ATR]: 40,
  [VSC.CardRemove]: 0,
});
const NAMES: Readonly<Record<number, string>> = {
  [VSC.Init]: 'Init',
  [VSC.Error]: 'Error',
  [VSC.ReaderAdd]: 'ReaderAdd',
  [VSC.ReaderRemove]: 'ReaderRemove',
  [VSC.ATR]: 'ATR',
  [VSC.CardRemove]: 'CardRemove',
  [VSC.APDU]: 'APDU answer',
};

// Shared decisions: the hot path (one call per message each way) allocates nothing.
const FORWARD: ToVmDecision = Object.freeze({ action: 'forward' });
const PASS: FromVmDecision = Object.freeze({ action: 'forward' });
const DROP: FromVmDecision = Object.freeze({ action: 'drop' });

/** The probe: a client Init (24 bytes); QEMU answers every Init with its own (§3). */
export const GUARD_PROBE: Uint8Array = encodeMessage(clientInit());

/** Forward guard of one relayed session; see the file comment. */
export class ForwardGuard {
  /** Largest APDU answer payload; the other types' caps are the shared {@link MAX_PAYLOAD}. */
  readonly #maxAnswer: number;
  readonly #budget: number;
  readonly #threshold: number;
  /** Bytes written to QEMU so far (probes included). */
  #written = 0;
  /** Stream offset where QEMU's buffer is known to have been empty. */
  #provenAt = 0;
  #expected: Expected[] = [];
  #answerable = 0;
  #flushingInFlight = 0;
  #browserControlsInFlight = 0;
  #isProbeInFlight = false;

  constructor(opts: ForwardGuardOptions = {}) {
    const maxAnswer = opts.maxAnswerBytes ?? VSCARD_MAX_GUEST_ANSWER_BYTES;
    const budget = opts.inputBudgetBytes ?? QEMU_VSCARD_IN_BYTES;
    const threshold = opts.probeThresholdBytes ?? 16384;
    if (!Number.isInteger(budget) || budget < 1024 || budget > QEMU_VSCARD_IN_BYTES) {
      throw new RangeError(`inputBudgetBytes must be an integer in 1024…${QEMU_VSCARD_IN_BYTES}`);
    }
    if (!Number.isInteger(threshold) || threshold < 0 || threshold >= budget) {
      throw new RangeError('probeThresholdBytes must be an integer in 0…inputBudgetBytes − 1');
    }
    if (!Number.isInteger(maxAnswer) || maxAnswer < 2 || maxAnswer > budget - 64) {
      throw new RangeError('maxAnswerBytes must be an integer in 2…inputBudgetBytes − 64');
    }
    this.#budget = budget;
    this.#threshold = threshold;
    this.#maxAnswer = maxAnswer;
  }

  /** Bytes QEMU may hold since the last proven rewind (≤ the budget, always). */
  get unprovenBytes(): number {
    return this.#written - this.#provenAt;
  }

  /** Guest commands an answer may still go to. */
  get answerableCommands(): number {
    return this.#answerable;
  }

  /** Control messages (browser's, relay's, probes) awaiting QEMU's reply. */
  get repliesAwaited(): number {
    return this.#expected.length;
  }

  /** Whether a probe awaits its reply. */
  get isProbeInFlight(): boolean {
    return this.#isProbeInFlight;
  }

  /**
   * Decide on one message (`bytes` = one whole VSCard message) about to be written to QEMU.
   * `'forward'` means the guard has counted it as written: write it (and then `probe`, if set)
   * before asking about the next one. A refusal changes nothing. Decisions are frozen and may
   * be shared between calls.
   */
  toVm(bytes: Uint8Array, origin: GuardOrigin = 'browser'): ToVmDecision {
    const bad = checkClientFrame(bytes);
    if (bad !== null) {
      return refuse(RelayClose.BAD_FRAME, 'bad-frame', `Bad VSCard frame (${bad.code}).`);
    }
    const type = readU32BE(bytes, 0);
    const length = bytes.length - VSCARD_HEADER_BYTES;
    const name = NAMES[type] ?? `type ${type}`;
    const max = type === VSC.APDU ? this.#maxAnswer : (MAX_PAYLOAD[type] ?? 0);
    if (length > max || (type === VSC.Error && length !== max)) {
      return violation('too-long', `${name} with ${length} payload bytes (allowed: ${max}).`);
    }
    const reply = CONTROL_REPLY.get(type);
    if (reply === undefined && this.#answerable === 0) {
      return violation('answer-without-command', `${name} with no guest command waiting for one.`);
    }
    if (reply !== undefined && origin === 'browser' && this.#browserControlsInFlight > 0) {
      return violation('control-in-flight', `${name} before QEMU acknowledged the last one.`);
    }
    if (this.unprovenBytes + bytes.length > this.#budget) {
      return violation('input-budget', 'too much data before QEMU confirmed reading it.');
    }
    this.#written += bytes.length;
    if (reply === undefined) {
      this.#answerable--;
    } else {
      const isFlushing = FLUSHING.has(type);
      this.#expected.push({ reply, end: this.#written, origin, isFlushing });
      if (isFlushing) {
        this.#answerable = 0;
        this.#flushingInFlight++;
      }
      if (origin === 'browser') this.#browserControlsInFlight++;
    }
    const probe = this.#maybeProbe();
    return probe ? { action: 'forward', probe } : FORWARD;
  }

  /**
   * A new browser connection took the session over (a resume, issue 14 §1): the control
   * messages the old one sent that QEMU has not acknowledged yet become the relay's — their
   * replies are dropped (never shown to the new page) and they no longer count as the
   * browser's message in flight, so the new page may announce itself at once.
   */
  adoptBrowserControls(): void {
    for (const e of this.#expected) if (e.origin === 'browser') e.origin = 'relay';
    this.#browserControlsInFlight = 0;
  }

  /**
   * Consume one message from QEMU (`type` = its header's type word), before it goes to the
   * browser. Guest commands (APDU) become answerable; Init/Error replies settle the oldest
   * control message awaiting one (QEMU replies in order, §3).
   */
  fromVm(frame: { type: number }): FromVmDecision {
    let action: 'forward' | 'drop' = 'forward';
    const head = this.#expected[0];
    if (frame.type === VSC.APDU) {
      // While ATR/CardRemove/ReaderRemove awaits its reply, QEMU sent this command before
      // handling it: the command is settled by QEMU itself (§3, g04), nobody may answer it.
      if (this.#flushingInFlight === 0) this.#answerable++;
    } else if (
      head !== undefined &&
      ((frame.type === VSC.Init && head.reply === 'Init') ||
        (frame.type === VSC.Error && head.reply === 'Error'))
    ) {
      this.#expected.shift();
      this.#settle(head);
      if (head.origin !== 'browser') action = 'drop';
    }
    const probe = this.#maybeProbe();
    if (probe) return { action, probe };
    return action === 'forward' ? PASS : DROP;
  }

  #settle(e: Expected): void {
    // Nothing written after e: QEMU's read of e's last byte ended the stream → rewound.
    if (e.end === this.#written) this.#provenAt = this.#written;
    if (e.isFlushing) {
      this.#flushingInFlight--;
      this.#answerable = 0;
    }
    if (e.origin === 'browser') this.#browserControlsInFlight--;
    if (e.origin === 'probe') this.#isProbeInFlight = false;
  }

  #maybeProbe(): Uint8Array | undefined {
    const unproven = this.unprovenBytes;
    if (
      this.#isProbeInFlight ||
      unproven === 0 ||
      unproven < this.#threshold ||
      unproven + GUARD_PROBE.length > this.#budget
    ) {
      return undefined;
    }
    this.#written += GUARD_PROBE.length;
    this.#expected.push({ reply: 'Init', end: this.#written, origin: 'probe', isFlushing: false });
    this.#isProbeInFlight = true;
    return GUARD_PROBE;
  }
}

function refuse(closeCode: number, rule: GuardRule, reason: string): ToVmDecision {
  return { action: 'refuse', closeCode, reason, rule };
}

function violation(rule: GuardRule, detail: string): ToVmDecision {
  return refuse(RelayClose.PROTOCOL_VIOLATION, rule, `Protocol violation: ${detail}`);
}
