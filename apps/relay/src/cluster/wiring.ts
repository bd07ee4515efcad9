/**
 * Starts a node's part of a relay cluster from the configuration: the Redis-protocol store,
 * the runtime, readiness (`/readyz` 503 `unavailable: …` while new sessions are refused) and
 * two gauges (`cardlend_relay_cluster_store_up`, `cardlend_relay_cluster_admitting`), and the
 * internal link (TLS with `cluster.linkTls`: cluster/link-tls.ts). Without
 * `config.cluster` nothing starts: the relay is one process with its state in memory.
 */
import { Gauge } from 'prom-client';
import type { HostPort, RelayConfig, TargetConfig } from '../config/types.ts';
import { parseHostPort } from '../config/values.ts';
import { RelayError } from '../errors.ts';
import type { VmConnection } from '../targets.ts';
import { DialInAnnouncer } from './dial-in-directory.ts';
import type { TlsMaterial } from '../tls-files.ts';
import { linkKey } from './link-auth.ts';
import { LinkTlsClient, loadLinkTlsFiles } from './link-tls.ts';
import { LinkServer } from './link.ts';
import type { Readiness } from '../ops/http.ts';
import type { RelayMetrics } from '../ops/metrics.ts';
import type { ServerEvent } from '../server-events.ts';
import { ClusterRuntime, type ClusterStatus } from './cluster-runtime.ts';
import { RedisClusterStore } from './redis-store.ts';
import type { ClusterStore } from './store.ts';

export interface ClusterWiring {
  readonly config: RelayConfig;
  readonly readiness: Readiness;
  readonly metrics: RelayMetrics | undefined;
  readonly emit: (e: ServerEvent) => void;
  /** A store to use instead of connecting to `config.cluster.redisUrl` (tests). */
  readonly store?: ClusterStore | undefined;
  /** The node's VM connections, for links from other nodes (cluster/link.ts). */
  readonly vms: {
    connect(targetId: string, timeoutMs: number, signal: AbortSignal): Promise<VmConnection>;
    get(targetId: string): TargetConfig | undefined;
  };
}

const UNAVAILABLE: Record<Exclude<ClusterStatus, 'up'>, string> = {
  down: 'cluster store unreachable',
  recovering: 'cluster store back, waiting one lease for live sessions to re-assert',
};

export async function startCluster(w: ClusterWiring): Promise<ClusterRuntime | undefined> {
  const c = w.config.cluster;
  if (c === undefined) return undefined;
  const tls = c.linkTls ? loadLinkTlsFiles(c.linkTls) : undefined;
  let store = w.store;
  if (store === undefined) {
    const redis = new RedisClusterStore({ url: c.redisUrl });
    await redis.start();
    store = redis;
  }
  const gauges = w.metrics ? clusterGauges(w.metrics) : undefined;
  const show = (status: ClusterStatus): void => {
    w.readiness.markUnavailable(status === 'up' ? undefined : UNAVAILABLE[status]);
    gauges?.storeUp.set(status === 'down' ? 0 : 1);
    gauges?.admitting.set(status === 'up' ? 1 : 0);
  };
  const rt = new ClusterRuntime({
    store,
    nodeId: c.nodeId,
    advertise: c.advertise,
    ...(c.leaseMs !== undefined ? { leaseMs: c.leaseMs } : {}),
    onStatus: (status) => {
      show(status);
      // Logged (main.ts) as an error while new sessions are refused; /readyz says when it ends.
      if (status === 'down')
        w.emit({ kind: 'server-error', message: `cluster: ${UNAVAILABLE.down}` });
    },
    ...(w.config.tokenSecrets[0] ? { linkKey: linkKey(w.config.tokenSecrets[0]) } : {}),
    linkTls: tls ? new LinkTlsClient(tls) : undefined,
    onLinkFailure: (message) => w.emit({ kind: 'server-error', message }),
  });
  show(rt.status);
  await startLinks(w, rt, parseHostPort(c.advertise, '--advertise'), tls);
  return rt;
}

/** The link server on the advertised address, and this node's dial-in directory entries. */
async function startLinks(
  w: ClusterWiring,
  rt: ClusterRuntime,
  at: HostPort,
  tls: TlsMaterial | undefined,
): Promise<void> {
  const link = new LinkServer({
    listen: at,
    key: rt.linkKey,
    tls,
    take: (id, signal) => w.vms.connect(id, w.config.connectTimeoutMs, signal),
    isDialIn: (id) => w.vms.get(id)?.isDialIn === true,
    resume: (hello, socket, head) => rt.onResumeLink(hello, socket, head),
    now: rt.now,
    onEvent: (message) => w.emit({ kind: 'server-error', message }),
    onRefused: (kind) => w.metrics?.linkRefused(kind),
  });
  try {
    await link.start();
  } catch (e) {
    await rt.close();
    throw new RelayError(
      'RELAY_LISTEN_FAILED',
      `cannot listen on ${at.host}:${at.port} (--advertise): ${(e as Error).message}`,
      { cause: e },
    );
  }
  rt.useLinkTls = (material) => {
    rt.linkTls?.use(material);
    link.useTls(material);
  };
  const announcer = new DialInAnnouncer(rt);
  rt.onDialInEvent = (target, event) => announcer.onDialInEvent(target, event);
  rt.onClose(() => announcer.close());
  rt.onClose(() => link.close());
}

function clusterGauges(metrics: RelayMetrics): { storeUp: Gauge; admitting: Gauge } {
  const registers = [metrics.registry];
  return {
    storeUp: new Gauge({
      name: 'cardlend_relay_cluster_store_up',
      help: 'Whether this node reaches the cluster store (1) or not (0).',
      registers,
    }),
    admitting: new Gauge({
      name: 'cardlend_relay_cluster_admitting',
      help: 'Whether this node admits new sessions as far as the cluster store goes (1) or not (0).',
      registers,
    }),
  };
}
