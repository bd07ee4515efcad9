/**
 * The relay's default frame policy (issue 11): every message towards QEMU passes the
 * `ForwardGuard` of @cardlend/vscard — the browser's (refusals close with their code, 4015 for
 * protocol violations, and a reason naming the rule), the relay's own cleanup messages and
 * the guard's probes — so nothing written can wedge QEMU's input; every message from QEMU is
 * shown to the guard first (`drop`: the reply to a probe or to a relay message).
 *
 * With the long-answers subprotocol (`cardlend.vscard.v1.long-answers`, issue 11 §3) the
 * page sends answers whole and a `RelayAnswerSplitter` splits them next to QEMU, serving the
 * guest's GET RESPONSEs here (the command is dropped, the served answer written as a probe).
 *
 * A `NagleDetector` watches QEMU's chunks (issue 11 §4): when the VM's chardev lacks
 * `nodelay=on` the session reports a `nagle-suspected` notice once.
 */
import {
  describeNagleReport,
  ForwardGuard,
  NagleDetector,
  RelayAnswerSplitter,
  relaySplitsLongAnswers,
  VSC,
  type FromVmDecision,
  type ToVmDecision,
} from '@cardlend/vscard';
import {
  FORWARD,
  type FramePolicy,
  type FramePolicyContext,
  type FrameVerdict,
  type PolicyNotice,
} from './frame-policy.ts';

/** Per-session state of {@link GUARD_POLICY}. */
export interface GuardPolicyState {
  readonly guard: ForwardGuard;
  /** Present when the long-answers subprotocol was selected. */
  readonly splitter: RelayAnswerSplitter | undefined;
  readonly nagle: NagleDetector;
  /** The nagle notice was given (once per session). */
  isNagleReported: boolean;
}

const DROP: FrameVerdict = Object.freeze({ action: 'drop' });

function refusal(d: Extract<ToVmDecision, { action: 'refuse' }>): FrameVerdict {
  return { action: 'refuse', closeCode: d.closeCode, reason: d.reason };
}

/** Joins whole messages into one write (e.g. a served answer and the guard's probe). */
function join(...parts: (Uint8Array | undefined)[]): Uint8Array | undefined {
  const present = parts.filter((p): p is Uint8Array => p !== undefined);
  return present.length <= 1 ? present[0] : Buffer.concat(present);
}

function toBrowser(frame: { type: number; bytes: Uint8Array }, s: GuardPolicyState): FrameVerdict {
  const d: FromVmDecision = s.guard.fromVm(frame);
  if (d.action === 'drop') return d.probe ? { action: 'drop', probe: d.probe } : DROP;
  if (frame.type === VSC.APDU && s.splitter) {
    const served = s.splitter.fromVm(frame.bytes);
    if (served.action === 'refuse') return refusal(served);
    if (served.action === 'serve') {
      return { action: 'drop', probe: join(served.answer, served.probe, d.probe) as Uint8Array };
    }
  }
  return d.probe ? { action: 'forward', probe: d.probe } : FORWARD;
}

function toVm(frame: { bytes: Uint8Array }, s: GuardPolicyState): FrameVerdict {
  if (s.splitter) {
    const d = s.splitter.fromBrowser(frame.bytes);
    if (d.action === 'refuse') return refusal(d);
    if (d.bytes === frame.bytes) return d.probe ? { action: 'forward', probe: d.probe } : FORWARD;
    return d.probe
      ? { action: 'forward', bytes: d.bytes, probe: d.probe }
      : { action: 'forward', bytes: d.bytes };
  }
  const d = s.guard.toVm(frame.bytes, 'browser');
  if (d.action === 'refuse') return refusal(d);
  return d.probe ? { action: 'forward', probe: d.probe } : FORWARD;
}

function vmChunk(chunk: Uint8Array, nowMs: number, s: GuardPolicyState): PolicyNotice | undefined {
  const finding = s.nagle.push(chunk, nowMs);
  if (finding?.kind !== 'nagle-suspected' || s.isNagleReported) return undefined;
  s.isNagleReported = true;
  const r = finding.report;
  return {
    code: 'nagle-suspected',
    message: describeNagleReport(r),
    fields: {
      typicalStallMs: r.typicalStallMs,
      windowStalls: r.windowStalls,
      windowMessages: r.windowMessages,
      confidence: r.confidence,
    },
  };
}

/** The relay's default policy; see the module comment. */
export const GUARD_POLICY: FramePolicy<GuardPolicyState> = Object.freeze({
  init(ctx?: FramePolicyContext): GuardPolicyState {
    const guard = new ForwardGuard();
    const isSplitting = ctx !== undefined && relaySplitsLongAnswers(ctx.protocol);
    return {
      guard,
      splitter: isSplitting ? new RelayAnswerSplitter(guard) : undefined,
      nagle: new NagleDetector(),
      isNagleReported: false,
    };
  },
  toVm,
  toBrowser,
  fromRelay(frame: { bytes: Uint8Array }, s: GuardPolicyState): FrameVerdict {
    // The cleanup's own messages: refused ones (e.g. a VSC_Error for a command QEMU already
    // settled, or over the budget) are not written.
    const d = s.guard.toVm(frame.bytes, 'relay');
    if (d.action === 'refuse') return DROP;
    return d.probe ? { action: 'forward', probe: d.probe } : FORWARD;
  },
  resume(s: GuardPolicyState): void {
    // The old page's unacknowledged control messages are the relay's now: their late replies
    // are dropped and the new page may re-announce (Init, ReaderAdd, ATR) at once.
    s.guard.adoptBrowserControls();
  },
  vmChunk,
});
