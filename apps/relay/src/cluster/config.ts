/**
 * The cluster settings: `--cluster redis://HOST:PORT --node-id ID --advertise HOST:PORT`, or
 * the config file's `"cluster": { "redis", "nodeId", "advertise", "leaseMs" }` (flags win,
 * part by part). Pure: parsing and checks only. Without them the relay is one process with its
 * state in memory, as before.
 */
import type { ClusterConfig } from '../config/types.ts';
import { asObject, checkKnownKeys, invalid, parseHostPort, positiveInt } from '../config/values.ts';

const NODE_ID = /^[A-Za-z0-9._-]{1,64}$/;
const FILE_KEYS = ['redis', 'nodeId', 'advertise', 'leaseMs'] as const;

/** Checks a `redis://` / `rediss://` URL with a host and a port; returns it trimmed. */
export function parseRedisUrl(value: unknown, what: string): string {
  if (typeof value !== 'string') throw invalid(`${what} must be a string "redis://HOST:PORT"`);
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    throw invalid(`${what} must look like redis://HOST:PORT, got "${value}"`);
  }
  if ((url.protocol !== 'redis:' && url.protocol !== 'rediss:') || url.hostname === '')
    throw invalid(`${what} must look like redis://HOST:PORT (or rediss://), got "${value}"`);
  if (url.port === '') throw invalid(`${what} needs a port (redis://HOST:PORT), got "${value}"`);
  return value.trim();
}

function nodeId(value: unknown, what: string): string {
  if (typeof value !== 'string' || !NODE_ID.test(value))
    throw invalid(`${what} must be 1–64 letters, digits, '.', '_' or '-'`);
  return value;
}

function advertise(value: unknown, what: string): string {
  const hp = parseHostPort(value, what);
  if (hp.port === 0) throw invalid(`${what} needs the port other nodes reach this one on`);
  return (value as string).trim();
}

/** The config file's `"cluster"` object (complete, or completed by flags later). */
export function parseClusterFile(value: unknown, source: string): Partial<ClusterConfig> {
  const o = asObject(value);
  const shape = '{ "redis": "redis://HOST:PORT", "nodeId": ID, "advertise": "HOST:PORT" }';
  if (!o) throw invalid(`${source}: "cluster" must be an object ${shape}`);
  checkKnownKeys(o, FILE_KEYS, source, 'cluster');
  const at = (k: string) => `${source}: "cluster.${k}"`;
  return {
    ...('redis' in o ? { redisUrl: parseRedisUrl(o['redis'], at('redis')) } : {}),
    ...('nodeId' in o ? { nodeId: nodeId(o['nodeId'], at('nodeId')) } : {}),
    ...('advertise' in o ? { advertise: advertise(o['advertise'], at('advertise')) } : {}),
    ...('leaseMs' in o ? { leaseMs: positiveInt(o['leaseMs'], at('leaseMs')) } : {}),
  };
}

/** The flags' part, over the file's part. */
export function parseClusterFlags(flags: {
  cluster?: string | undefined;
  nodeId?: string | undefined;
  advertise?: string | undefined;
}): Partial<ClusterConfig> {
  return {
    ...(flags.cluster !== undefined ? { redisUrl: parseRedisUrl(flags.cluster, '--cluster') } : {}),
    ...(flags.nodeId !== undefined ? { nodeId: nodeId(flags.nodeId, '--node-id') } : {}),
    ...(flags.advertise !== undefined
      ? { advertise: advertise(flags.advertise, '--advertise') }
      : {}),
  };
}

/** Merged parts → the cluster settings, or undefined when none was given; incomplete throws. */
export function completeCluster(
  parts: Partial<ClusterConfig> | undefined,
): ClusterConfig | undefined {
  if (parts === undefined || Object.keys(parts).length === 0) return undefined;
  const missing = [
    parts.redisUrl === undefined ? '--cluster (or "cluster.redis")' : '',
    parts.nodeId === undefined ? '--node-id (or "cluster.nodeId")' : '',
    parts.advertise === undefined ? '--advertise (or "cluster.advertise")' : '',
  ].filter((m) => m !== '');
  if (missing.length > 0)
    throw invalid(
      `a relay cluster needs --cluster, --node-id and --advertise: missing ${missing.join(', ')}`,
    );
  return parts as ClusterConfig;
}
