/**
 * A dial-in VM parked on another node (the directory says which): after the cluster step has
 * taken the VM lease, the session's VM connection is the link to that node (cluster/link.ts)
 * instead of a local dial-in port. A VM parked here, or announced nowhere, is left to the
 * connect step (which waits for it locally).
 */
import { RelayClose } from '@cardlend/vscard';
import { refusalOf } from '../admission/steps.ts';
import { admit, refuse, type AdmissionStep, type Verdict } from '../admission/types.ts';
import type { ClusterRuntime } from './cluster-runtime.ts';
import { dialLink } from './link.ts';
import { StoreUnavailableError } from './store.ts';

export function remoteDialInStep(rt: ClusterRuntime, connectTimeoutMs: number): AdmissionStep {
  return async (a, io): Promise<Verdict> => {
    const key = rt.linkKey;
    if (!a.target?.isDialIn || key === undefined) return admit(a);
    let entry;
    try {
      entry = await rt.store.findDialIn(a.targetId);
    } catch (e) {
      if (e instanceof StoreUnavailableError) return refuse(refusalOf('cluster-unavailable'));
      throw e;
    }
    if (entry === undefined || entry.nodeId === rt.nodeId) return admit(a);
    try {
      const vm = await dialLink({
        advertise: entry.advertise,
        key,
        targetId: a.targetId,
        nodeId: rt.nodeId,
        now: rt.now,
        timeoutMs: connectTimeoutMs,
        signal: io.signal,
        tls: rt.linkTls,
      });
      if (io.signal.aborted) {
        vm.socket.destroy();
        return refuse(undefined);
      }
      return admit({ ...a, vm });
    } catch (e) {
      if (io.signal.aborted) return refuse(undefined);
      const why = (e as Error).message;
      rt.onLinkFailure(
        `link to node ${entry.nodeId} (${entry.advertise}) for ${a.targetId}: ${why}`,
      );
      return refuse({
        code: RelayClose.VM_UNREACHABLE,
        reason:
          `The VM is connected to relay node ${entry.nodeId}, which cannot hand it over (${why}).`.slice(
            0,
            120,
          ),
        kind: undefined,
      });
    }
  };
}
