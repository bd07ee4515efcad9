/**
 * This relay, run as a child of bench/relay-bench.ts so its CPU and memory are its own.
 * Usage: tsx bench/child-relay.ts <host-port> <target-count>.
 *
 * Every target `vm-<i>` points at the stand-in host; the bench's session i asks for
 * `vm-<i>` with a token in the subprotocol (BENCH_TOKEN_SECRET, hex, is the HMAC secret).
 * The relay admits one session per target (issue 2), so each session gets its own target.
 */
import { pino } from 'pino';
import { defaultConfig, type RelayConfig } from '../src/config.ts';
import { createAuditLog, createLogger } from '../src/ops/logger.ts';
import { createRelayMetrics } from '../src/ops/metrics.ts';
import { startRelayServer } from '../src/server.ts';
import { serveChildIpc } from './bench-common.ts';

const hostPort = Number(process.argv[2]);
const targetCount = Number(process.argv[3] ?? 1);
const targets: RelayConfig['targets'] = {};
for (let i = 0; i < targetCount; i++) targets[`vm-${i}`] = { host: '127.0.0.1', port: hostPort };

const secretHex = process.env['BENCH_TOKEN_SECRET'] ?? '';
const config: RelayConfig = {
  ...defaultConfig(),
  listen: { host: '127.0.0.1', port: 0 },
  targets,
  defaultTarget: 'vm-0',
  tokenSecrets: [Uint8Array.from(Buffer.from(secretHex, 'hex'))],
  // Every bench session comes from 127.0.0.1; the caps themselves still run.
  maxSessions: 100_000,
  maxSessionsPerAddress: 100_000,
};
// The message-rate limit stays at its default: the bench's browser only answers guest
// commands, which the relay does not count (QEMU paces them, one answer per command).
// As deployed (main.ts): metrics on, audit log on (to /dev/null here).
const logger = createLogger({ destination: pino.destination({ dest: '/dev/null', sync: false }) });
const server = await startRelayServer({
  config,
  metrics: createRelayMetrics(),
  audit: createAuditLog(logger),
});
serveChildIpc(server.address.port, () => server.close());
