/**
 * Runs the admission steps in order (admission/steps.ts) and releases what was held when one
 * refuses or the client leaves: the step list is the whole policy, the runner has none.
 */
import {
  connectStep,
  limitsStep,
  originStep,
  targetStep,
  tokenStep,
  vmLockStep,
  type TokenRules,
} from './steps.ts';
import type {
  AdmissionIo,
  AdmissionStep,
  Admitted,
  AdmittedSession,
  ClientInfo,
  Refusal,
  Verdict,
} from './types.ts';
import type { OriginPolicy } from '../auth/origin.ts';
import { clusterStep } from '../cluster/admission-step.ts';
import type { ClusterRuntime } from '../cluster/cluster-runtime.ts';
import { remoteDialInStep } from '../cluster/remote-dial-in-step.ts';
import { takeoverStep } from '../cluster/takeover.ts';
import type { SessionCaps } from '../limits/session-caps.ts';
import type { Targets } from '../targets.ts';

/** What the relay's admission consults. */
export interface AdmissionPolicy {
  readonly originPolicy: OriginPolicy;
  readonly caps: SessionCaps;
  readonly tokens: TokenRules;
  readonly targets: Targets;
  readonly connectTimeoutMs: number;
  /** A relay cluster (cluster/): its step runs after the VM lock. Absent: one process alone. */
  readonly cluster?: ClusterRuntime;
}

/** origin → limits → token → target → VM lock → (cluster) → connect → (cluster takeover). */
export function admissionSteps(p: AdmissionPolicy): AdmissionStep[] {
  return [
    originStep(p.originPolicy),
    limitsStep(p.caps),
    tokenStep(p.tokens),
    targetStep(p.targets),
    vmLockStep(p.targets),
    ...(p.cluster ? [clusterStep(p.cluster), remoteDialInStep(p.cluster, p.connectTimeoutMs)] : []),
    connectStep(p.targets, p.connectTimeoutMs),
    ...(p.cluster ? [takeoverStep(p.cluster.takeovers, p.cluster.takeoverAckTimeoutMs)] : []),
  ];
}

/** The outcome: a session to start, or a refusal (undefined: the client left) and where it came. */
export type AdmissionResult =
  | { readonly ok: true; readonly admitted: AdmittedSession }
  | { readonly ok: false; readonly refusal: Refusal | undefined; readonly admitted: Admitted };

/**
 * Runs `steps` for a client, starting at `defaultTarget`. `refusedFromOutside` is consulted
 * when the signal aborts (a refusal the connection itself decided, e.g. a frame flood).
 */
export async function runAdmission(
  steps: readonly AdmissionStep[],
  client: ClientInfo,
  defaultTarget: string,
  io: AdmissionIo & { readonly refusedFromOutside: Refusal | undefined },
): Promise<AdmissionResult> {
  let admitted: Admitted = { client, targetId: defaultTarget };
  for (const step of steps) {
    let verdict: Verdict;
    try {
      verdict = io.signal.aborted ? { ok: false, refusal: undefined } : await step(admitted, io);
    } catch (e) {
      releaseAdmitted(admitted); // a step that throws is a bug; what was held is not leaked
      throw e;
    }
    if (verdict.ok && !io.signal.aborted) {
      admitted = verdict.admitted;
      continue;
    }
    // An admitting step's result holds everything held before it, and its own part.
    releaseAdmitted(verdict.ok ? verdict.admitted : admitted);
    const refusal = io.signal.aborted || verdict.ok ? io.refusedFromOutside : verdict.refusal;
    return { ok: false, refusal, admitted };
  }
  return { ok: true, admitted: admitted as AdmittedSession };
}

/** Frees what admission held: VM connection, VM lock, token claim, session-cap slot. */
export function releaseAdmitted(a: Admitted): void {
  a.vm?.socket.destroy();
  a.lock?.release();
  a.lease?.release();
  a.cap?.release();
}
