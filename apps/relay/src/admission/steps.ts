/**
 * The admission steps, in order: origin → limits → token → target → VM lock → connect. Each
 * takes what admission has established so far and returns it, extended, or a refusal with its
 * close code (admission/types.ts). The target always comes from the configuration (a token
 * names a target id), never from the browser.
 */
import { RelayClose } from '@cardlend/vscard';
import { parseAuthMessage, type OriginPolicy } from '../auth/origin.ts';
import { verifyToken, type TokenLedger } from '../auth/tokens.ts';
import { refusalClose, refusalForToken, type RefusalKind } from '../limits/refusals.ts';
import type { SessionCaps } from '../limits/session-caps.ts';
import type { Targets } from '../targets.ts';
import { admit, refuse, type AdmissionStep, type Refusal, type Verdict } from './types.ts';

/** The refusal of a kind (limits/refusals.ts), with its close code and sentence. */
export function refusalOf(kind: RefusalKind, detail?: string): Refusal {
  return { ...refusalClose(kind, detail), kind };
}

/** Browsers from allowed pages (or the relay's own); a client without Origin is native. */
export function originStep(policy: OriginPolicy): AdmissionStep {
  return (a) => {
    const decision = policy.check({ origin: a.client.origin, host: a.client.host });
    return decision.ok ? admit(a) : refuse(refusalOf(decision.reason));
  };
}

/** Session caps, global and per client address. */
export function limitsStep(caps: SessionCaps): AdmissionStep {
  return (a) => {
    const cap = caps.tryAcquire(a.client.clientAddress);
    return cap.ok ? admit({ ...a, cap: cap.slot }) : refuse(refusalOf(cap.reason));
  };
}

/** What the token step needs; without secrets it admits everyone to the default target. */
export interface TokenRules {
  readonly secrets: readonly Uint8Array[];
  readonly ledger: TokenLedger;
  /** Time for a first-message token after the WebSocket opens, ms. */
  readonly authTimeoutMs: number;
  readonly isKnownTarget: (id: string) => boolean;
}

/**
 * The session token — in the subprotocol `cardlend.token.<t>` (read at the upgrade,
 * admission/offer.ts), or a first text message `{"token": ...}` within `authTimeoutMs` —
 * verified, then claimed in the ledger (single use, or one live session at a time). It names
 * the target.
 */
export function tokenStep(rules: TokenRules): AdmissionStep {
  return async (a, io) => {
    if (rules.secrets.length === 0) return admit(a);
    const offered = io.offeredToken();
    if (offered.hasSeveralTokens) return refuse(refusalOf('token-malformed'));
    let token = offered.token;
    if (token === null) {
      const first = await io.firstMessage(rules.authTimeoutMs);
      if (first === 'gone') return refuse(undefined);
      if (first === 'timeout') return refuse(refusalOf('auth-timeout'));
      const parsed = parseAuthMessage(first.data, first.isBinary);
      if (!parsed.ok) return refuse(refusalOf('token-missing'));
      token = parsed.token;
    }
    const verdict = verifyToken({
      token,
      secrets: rules.secrets,
      nowMs: io.now(),
      isKnownTarget: rules.isKnownTarget,
    });
    if (!verdict.ok) return refuse(refusalOf(refusalForToken(verdict.reason)));
    const claim = rules.ledger.claim({ claims: verdict.claims, nowMs: io.now() });
    if (!claim.ok) return refuse(refusalOf(refusalForToken(claim.reason)));
    return admit({
      ...a,
      targetId: verdict.claims.tid,
      lease: claim.lease,
      tokenClaims: verdict.claims,
    });
  };
}

/** The target's configuration. */
export function targetStep(targets: Targets): AdmissionStep {
  return (a) => {
    const target = targets.get(a.targetId);
    return target
      ? admit({ ...a, target })
      : refuse(refusalOf('token-unknown-target', `(${a.targetId})`));
  };
}

/**
 * One browser per VM: the target's lock. A session that is only removing the card from the
 * VM ends within the cleanup bounds, so one newcomer (a reload, a reconnect) waits for it
 * instead of being refused. From here the client's frames wait in its socket.
 */
export function vmLockStep(targets: Targets): AdmissionStep {
  return async (a, io) => {
    io.hold();
    let lock = targets.tryLock(a.targetId);
    if (!lock) {
      const held = targets.lockOf(a.targetId);
      if (!held || !held.isEnding || held.hasWaiter) return refuse(refusalOf('vm-in-use'));
      held.hasWaiter = true;
      const isAborted = await untilReleasedOrAborted(held.released(), io.signal);
      if (isAborted) return refuse(undefined);
      lock = targets.tryLock(a.targetId);
      if (!lock) return refuse(refusalOf('vm-in-use'));
    }
    return admit({ ...a, lock });
  };
}

function untilReleasedOrAborted(released: Promise<void>, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(true);
  return new Promise((resolve) => {
    const onAbort = () => resolve(true);
    signal.addEventListener('abort', onAbort, { once: true });
    void released.then(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(signal.aborted);
    });
  });
}

/** The VM connection: connect to QEMU, or take the one it dialled in with. */
export function connectStep(targets: Targets, connectTimeoutMs: number): AdmissionStep {
  return async (a, io): Promise<Verdict> => {
    if (a.vm) return admit(a); // an earlier step found it (a VM parked on another cluster node)
    let vm;
    try {
      vm = await targets.connect(a.targetId, connectTimeoutMs, io.signal);
    } catch (e) {
      if (io.signal.aborted) return refuse(undefined);
      const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
      const reason = a.target?.isDialIn
        ? `The VM is not connected to the relay (${why}). Is the VM running?`
        : `The relay cannot reach the VM (${why}). Is the VM running?`;
      return refuse({ code: RelayClose.VM_UNREACHABLE, reason, kind: undefined });
    }
    if (io.signal.aborted) {
      vm.socket.destroy();
      return refuse(undefined);
    }
    return admit({ ...a, vm });
  };
}
