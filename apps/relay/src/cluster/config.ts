/**
 * The cluster settings: `--cluster redis://HOST:PORT --node-id ID --advertise HOST:PORT`
 * (`--link-tls-cert FILE --link-tls-key FILE --link-tls-ca FILE`), or the config file's
 * `"cluster": { "redis", "nodeId", "advertise", "leaseMs", "linkTls": { "cert", "key", "ca" } }`
 * (flags win, part by part; `linkTls`'s paths relative to the config file). Pure: parsing and
 * checks only. Without them the relay is one process with its state in memory, as before.
 */
import type { ClusterConfig, LinkTlsConfig } from '../config/types.ts';
import {
  asObject,
  certKeyCaFiles,
  checkKnownKeys,
  invalid,
  parseHostPort,
  positiveInt,
} from '../config/values.ts';

const NODE_ID = /^[A-Za-z0-9._-]{1,64}$/;
const FILE_KEYS = ['redis', 'nodeId', 'advertise', 'leaseMs', 'linkTls'] as const;

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
export function parseClusterFile(
  value: unknown,
  source: string,
  baseDir: string,
): Partial<ClusterConfig> {
  const o = asObject(value);
  const shape =
    '{ "redis": "redis://HOST:PORT", "nodeId": ID, "advertise": "HOST:PORT", "leaseMs"?: MS,' +
    ' "linkTls"?: { "cert": FILE, "key": FILE, "ca": FILE } }';
  if (!o) throw invalid(`${source}: "cluster" must be an object ${shape}`);
  checkKnownKeys(o, FILE_KEYS, source, 'cluster');
  const at = (k: string) => `${source}: "cluster.${k}"`;
  return {
    ...('redis' in o ? { redisUrl: parseRedisUrl(o['redis'], at('redis')) } : {}),
    ...('nodeId' in o ? { nodeId: nodeId(o['nodeId'], at('nodeId')) } : {}),
    ...('advertise' in o ? { advertise: advertise(o['advertise'], at('advertise')) } : {}),
    ...('leaseMs' in o ? { leaseMs: positiveInt(o['leaseMs'], at('leaseMs')) } : {}),
    ...('linkTls' in o
      ? { linkTls: certKeyCaFiles(o['linkTls'], source, 'cluster.linkTls', baseDir) }
      : {}),
  };
}

/** The flags' part, over the file's part (`fileLinkTls`: the file's `cluster.linkTls`). */
export function parseClusterFlags(
  flags: {
    cluster?: string | undefined;
    nodeId?: string | undefined;
    advertise?: string | undefined;
    /** `--link-tls-cert`, `--link-tls-key`, `--link-tls-ca` as absolute paths. */
    linkTls?: LinkTlsFlags;
  },
  fileLinkTls?: LinkTlsConfig,
): Partial<ClusterConfig> {
  const linkTls = linkTlsFlags(flags.linkTls ?? {}, fileLinkTls);
  return {
    ...(linkTls !== undefined ? { linkTls } : {}),
    ...(flags.cluster !== undefined ? { redisUrl: parseRedisUrl(flags.cluster, '--cluster') } : {}),
    ...(flags.nodeId !== undefined ? { nodeId: nodeId(flags.nodeId, '--node-id') } : {}),
    ...(flags.advertise !== undefined
      ? { advertise: advertise(flags.advertise, '--advertise') }
      : {}),
  };
}

/** The `--link-tls-*` paths given (undefined: not given). */
type LinkTlsFlags = { readonly [K in keyof LinkTlsConfig]?: string | undefined };

const LINK_TLS_FLAGS = {
  certFile: '--link-tls-cert',
  keyFile: '--link-tls-key',
  caFile: '--link-tls-ca',
} as const;

/** `--link-tls-*` over the file's `cluster.linkTls`, each its part; together they are complete. */
function linkTlsFlags(
  flags: LinkTlsFlags,
  file: LinkTlsConfig | undefined,
): LinkTlsConfig | undefined {
  const given = Object.values(flags).some((f) => f !== undefined);
  if (!given) return undefined;
  const merged = { ...file, ...Object.fromEntries(Object.entries(flags).filter(([, f]) => f)) };
  const names = Object.entries(LINK_TLS_FLAGS);
  const missing = names.filter(([k]) => !(k in merged)).map(([, flag]) => flag);
  if (missing.length > 0)
    throw invalid(
      `${Object.values(LINK_TLS_FLAGS).join(', ')} go together (or complete the config file's "cluster.linkTls"): missing ${missing.join(', ')}`,
    );
  return merged as LinkTlsConfig;
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
