/**
 * Starts the operator API when the configuration asks for it: the session registry (on the
 * cluster store, or on an embedded one for a relay alone) and the API's listener (HTTPS with
 * client certificates when `operator.tls` is set).
 */
import { readFileSync } from 'node:fs';
import type { ClusterRuntime } from '../cluster/cluster-runtime.ts';
import { MemoryClusterStore } from '../cluster/memory-store.ts';
import type { RelayConfig } from '../config/types.ts';
import { invalid } from '../config/values.ts';
import { RelayError } from '../errors.ts';
import type { ServerEvent } from '../server-events.ts';
import type { RelaySession } from '../session/relay-session.ts';
import { OperatorApi } from './operator-api.ts';
import { SessionRegistry } from './session-registry.ts';
import { loadOperatorTlsFiles, type TlsMaterial } from './tls.ts';

export interface RunningOperator {
  readonly api: OperatorApi;
  onServerEvent(e: ServerEvent): void;
  /** Reads and checks `operator.tls`'s PEM files (SIGHUP), not applying them; none without TLS. */
  loadTlsFiles(): TlsMaterial | undefined;
  /** Serves new connections with the result of {@link loadTlsFiles}. */
  useTlsFiles(material: TlsMaterial): void;
  close(): Promise<void>;
}

export async function startOperator(w: {
  readonly config: RelayConfig;
  readonly cluster: ClusterRuntime | undefined;
  readonly sessions: ReadonlyMap<string, RelaySession>;
  readonly isKnownTarget: (id: string) => boolean;
  readonly now: () => number;
  /** A connection refused before any request (failed TLS handshake). */
  readonly onRefused?: (remote: string, reason: string) => void;
}): Promise<RunningOperator | undefined> {
  const o = w.config.operator;
  if (o === undefined) return undefined;
  let secret: Buffer;
  try {
    secret = Buffer.from(readFileSync(o.secretFile, 'utf8').trim(), 'utf8');
  } catch (e) {
    throw invalid(`operator.secretFile ${o.secretFile}: ${(e as Error).message}`, e);
  }
  if (secret.length < 16) throw invalid(`operator.secretFile ${o.secretFile}: at least 16 bytes`);
  const loadTlsFiles = () => (o.tls ? loadOperatorTlsFiles(o.tls) : undefined);
  const tls = loadTlsFiles();
  const store = w.cluster?.store ?? new MemoryClusterStore();
  const nodeId = w.cluster?.nodeId ?? 'local';
  const registry = new SessionRegistry({ store, nodeId, sessions: w.sessions, now: w.now });
  const api = new OperatorApi({
    listen: o.listen,
    secret,
    store,
    registry,
    nodeId,
    tokenSecret: w.config.tokenSecrets[0],
    isKnownTarget: w.isKnownTarget,
    now: w.now,
    tls,
    onRefused: w.onRefused,
  });
  try {
    await api.start();
  } catch (e) {
    await registry.close();
    const at = `${o.listen.host}:${o.listen.port}`;
    throw new RelayError('RELAY_LISTEN_FAILED', `cannot listen on ${at} (operator)`, { cause: e });
  }
  return {
    api,
    onServerEvent: (e) => registry.onServerEvent(e),
    loadTlsFiles,
    useTlsFiles: (material) => api.useTls(material),
    close: async () => {
      await registry.close();
      await api.close();
    },
  };
}
