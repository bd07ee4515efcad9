/**
 * The cluster's admission step, after the (local) VM lock and before connecting: while the
 * store is unreachable (or just back) new sessions are refused with `4019`; otherwise a
 * single-use token is claimed cluster-wide (a replay on another node: `4002`) and the VM lease
 * taken (a VM another node lends to: `4009`). The lease lives as long as the local VM lock.
 * A session-bound token (not single-use) needs no claim of its own: it names one VM, and the
 * VM lease allows one session on it cluster-wide.
 */
import { RelayClose } from '@cardlend/vscard';
import { DEFAULT_CLOCK_SKEW_SECONDS } from '../auth/tokens.ts';
import { refusalOf } from '../admission/steps.ts';
import { admit, refuse, type AdmissionStep, type Verdict } from '../admission/types.ts';
import type { ClusterRuntime } from './cluster-runtime.ts';
import { StoreUnavailableError } from './store.ts';

/** Close reason of a session whose VM lease another node took. */
export const LEASE_LOST_REASON = 'Another relay node took over this VM.';

export function clusterStep(rt: ClusterRuntime): AdmissionStep {
  return async (a, io): Promise<Verdict> => {
    if (rt.status !== 'up') return refuse(refusalOf('cluster-unavailable'));
    try {
      const claims = a.tokenClaims;
      if (claims?.isOneTime) {
        const ttlMs = (claims.exp + DEFAULT_CLOCK_SKEW_SECONDS) * 1000 - io.now();
        const claim = await rt.store.claimToken(claims.jti, Math.max(1000, ttlMs));
        if (!claim.ok) return refuse(refusalOf('token-used'));
      }
      const got = await rt.store.acquireVm(a.targetId, rt.nodeId, rt.leaseMs);
      if (!got.ok) return refuse(refusalOf('vm-in-use'));
      const lock = a.lock;
      if (lock === undefined || io.signal.aborted) {
        await rt.store.releaseVm(got.grant).catch(() => {});
        return refuse(undefined);
      }
      if (got.isAfterLapse) rt.takeovers.add(lock);
      rt.hold(got.grant, lock.released(), () =>
        lock.session?.close(RelayClose.CLUSTER_UNAVAILABLE, LEASE_LOST_REASON),
      );
      return admit(a);
    } catch (e) {
      if (e instanceof StoreUnavailableError) return refuse(refusalOf('cluster-unavailable'));
      throw e;
    }
  };
}
