/**
 * This relay, run as a child of bench/relay-bench.ts so its CPU and memory are its own.
 * Usage: tsx bench/child-relay.ts <host-port> <target-count>.
 *
 * Every target `vm-<i>` points at the stand-in host; the bench's session i asks for
 * `vm-<i>` with a token in the subprotocol (BENCH_TOKEN_SECRET, hex, is the HMAC secret).
 * The relay admits one session per target (issue 2), so the multi-session measurements
 * need the relay to take the target from the token (issue 6; see `tokenConfig`).
 */
import { defaultConfig, type RelayConfig } from '../src/config.ts';
import { startRelayServer } from '../src/server.ts';
import { serveChildIpc } from './bench-common.ts';

const hostPort = Number(process.argv[2]);
const targetCount = Number(process.argv[3] ?? 1);
const targets: RelayConfig['targets'] = {};
for (let i = 0; i < targetCount; i++) targets[`vm-${i}`] = { host: '127.0.0.1', port: hostPort };

/**
 * Token settings for the relay's config: the plug point for issue 6's integration (the
 * config has no token field yet; when it has, set it here from BENCH_TOKEN_SECRET).
 */
const tokenConfig: Partial<RelayConfig> = {};

const config: RelayConfig = {
  ...defaultConfig(),
  listen: { host: '127.0.0.1', port: 0 },
  targets,
  defaultTarget: 'vm-0',
  ...tokenConfig,
};
const server = await startRelayServer({ config });
serveChildIpc(server.address.port, () => server.close());
