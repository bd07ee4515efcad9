/**
 * Admission through a relay cluster (issue 15), printed: for each variant, N sessions one
 * after another, each timed from the WebSocket's start to the VM's answer to Init (upgrade,
 * token, VM lock/lease, VM connection, one round trip), then closed; p50/p99 and the rate.
 *
 * - single process: today's relay, state in memory, the relay connects to the VM;
 * - cluster node: the same through one node of a cluster (a real redis-server on loopback,
 *   started here): the token claim and the VM lease cost store round trips;
 * - dial-in, same node: a VM dialled in to the node the browser reached (cluster on);
 * - dial-in, cross-node: the VM dialled in to node A, the browser on node B (directory
 *   look-up, signed link, bytes through A);
 * - the same with TLS on the link (`cluster.linkTls`, ECDSA P-256 certificates made here): each
 *   session's link pays a TLS handshake with both certificates checked.
 * Between dial-in sessions the stand-in VM reconnects (like QEMU's reconnect=1) and the bench
 * waits for it to be parked again; that wait is not timed. Everything runs in this process on
 * a shared machine: compare the variants with each other, not with other machines.
 * Usage: npx tsx bench/cluster-bench.ts [--sessions=N] (default 300).
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  clientInit,
  encodeMessage,
  RELAY_PATH,
  RELAY_SUBPROTOCOL,
  RELAY_TOKEN_SUBPROTOCOL_PREFIX,
} from '@cardlend/vscard';
import { WebSocket } from 'ws';
import { mintToken } from '../src/auth/tokens.ts';
import { defaultConfig, type RelayConfig } from '../src/config.ts';
import type { ClusterConfig, LinkTlsConfig } from '../src/config/types.ts';
import { startRelayServer, type RelayServer } from '../src/server.ts';
import { makeCa, tempDir, writeRelayFiles } from '../test/vm-certs.ts';
import { percentile } from './bench-common.ts';

const N = Number(/^--sessions=(\d+)$/.exec(process.argv[2] ?? '')?.[1] ?? 300);
const SECRET = new Uint8Array(32).fill(5);
const INIT = encodeMessage(clientInit());
const ACK = encodeMessage({ type: 'Error', readerId: 0, code: 0 });
const INIT_REPLY = Buffer.from(INIT);

/** A VSCard stand-in: answers Init with Init and everything else with Error(0). */
function answer(socket: net.Socket): void {
  let buf = Buffer.alloc(0);
  socket.setNoDelay(true);
  socket.on('error', () => {});
  socket.on('data', (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    while (buf.length >= 12 && buf.length >= 12 + buf.readUInt32BE(8)) {
      const type = buf.readUInt32BE(0);
      buf = buf.subarray(12 + buf.readUInt32BE(8));
      if (type === 1) socket.write(INIT_REPLY);
      else if (type !== 2) socket.write(ACK);
    }
  });
  socket.on('end', () => socket.end());
}

/** A VM stand-in that dials in to `port` and reconnects 5 ms after every close. */
function dialingVm(port: number): { connects: () => number; stop: () => void } {
  let connects = 0;
  let isStopped = false;
  const connect = () => {
    if (isStopped) return;
    const s = net.connect({ host: '127.0.0.1', port }, () => connects++);
    answer(s);
    s.on('close', () => setTimeout(connect, 5));
  };
  connect();
  return { connects: () => connects, stop: () => void (isStopped = true) };
}

async function startRedis(): Promise<{ url: string; stop: () => void }> {
  const port = await freePort();
  const child = spawn(
    '/usr/bin/redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise<boolean>((r) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => (s.destroy(), r(true)));
      s.on('error', () => r(false));
    });
    if (ok) break;
    await sleep(25);
  }
  return { url: `redis://127.0.0.1:${port}`, stop: () => child.kill('SIGKILL') };
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function relay(
  targets: RelayConfig['targets'],
  cluster?: ClusterConfig,
): Promise<RelayServer> {
  return startRelayServer({
    config: {
      ...defaultConfig(),
      listen: { host: '127.0.0.1', port: 0 },
      staticDir: mkdtempSync(path.join(os.tmpdir(), 'cardlend-bench-')),
      targets,
      defaultTarget: Object.keys(targets)[0] as string,
      tokenSecrets: [SECRET],
      maxSessionsPerAddress: 100_000,
      ...(cluster ? { cluster } : {}),
    },
  });
}

/** One session: open with a token, Init round trip (timed), close and wait for the close. */
async function admitOnce(server: RelayServer, target: string): Promise<number> {
  const token = mintToken({ secret: SECRET, targetId: target, ttlSeconds: 60, nowMs: Date.now() });
  const started = performance.now();
  const ws = new WebSocket(`ws://127.0.0.1:${server.address.port}${RELAY_PATH}`, [
    RELAY_SUBPROTOCOL,
    RELAY_TOKEN_SUBPROTOCOL_PREFIX + token,
  ]);
  const elapsed = await new Promise<number>((resolve, reject) => {
    ws.once('open', () => ws.send(INIT));
    ws.once('message', () => resolve(performance.now() - started));
    ws.once('close', (code, reason) => reject(new Error(`closed ${code} ${reason.toString()}`)));
    ws.once('error', reject);
  });
  ws.removeAllListeners('close');
  await new Promise<void>((resolve) => {
    ws.once('close', () => resolve());
    ws.close(1000);
  });
  await waitFor(() => server.sessions.size === 0);
  return elapsed;
}

async function waitFor(cond: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; !(await cond()); i++) {
    if (i > 5000) throw new Error('bench: condition not met');
    await sleep(1);
  }
}

async function measure(
  name: string,
  run: () => Promise<number>,
  between: () => Promise<void> = async () => {},
): Promise<void> {
  for (let i = 0; i < 20; i++) {
    await run(); // warm-up
    await between();
  }
  const times: number[] = [];
  for (let i = 0; i < N; i++) {
    times.push(await run());
    await between();
  }
  times.sort((a, b) => a - b);
  const total = times.reduce((s, t) => s + t, 0);
  process.stdout.write(
    `${name.padEnd(28)} p50 ${percentile(times, 50).toFixed(2)} ms  p99 ${percentile(times, 99).toFixed(2)} ms  ${((N * 1000) / total).toFixed(0)} admissions/s (serial)\n`,
  );
}

/**
 * Nodes A and B of a cluster (`cluster(id)` gives each its settings), a VM stand-in dialled in
 * to A; measures admissions through A (named `names[0]`, skipped if undefined) and through B
 * (`names[1]`).
 */
async function dialInAcross(
  cluster: (nodeId: string) => Promise<ClusterConfig>,
  names: readonly [string | undefined, string],
): Promise<void> {
  const dialInPort = await freePort();
  const a = await relay(
    { dvm: { host: '127.0.0.1', port: dialInPort, isDialIn: true } },
    await cluster('a'),
  );
  const b = await relay(
    { dvm: { host: '127.0.0.1', port: 0, isDialIn: true } },
    await cluster('b'),
  );
  const fake = dialingVm(dialInPort);
  // Each session uses up one VM connection: before the next, QEMU's stand-in reconnected.
  let used = 0;
  const parked = async () => {
    used++;
    await waitFor(() => fake.connects() > used);
    await waitFor(async () => (await a.cluster?.store.findDialIn('dvm'))?.nodeId === 'a');
  };
  await waitFor(async () => (await a.cluster?.store.findDialIn('dvm'))?.nodeId === 'a');
  if (names[0] !== undefined) await measure(names[0], () => admitOnce(a, 'dvm'), parked);
  await measure(names[1], () => admitOnce(b, 'dvm'), parked);
  fake.stop();
  await b.close();
  await a.close();
}

async function main(): Promise<void> {
  const vm = net.createServer(answer);
  await new Promise<void>((r) => vm.listen(0, '127.0.0.1', () => r()));
  const vmPort = (vm.address() as net.AddressInfo).port;
  const redis = await startRedis();
  process.stdout.write(`cluster bench: ${N} sessions per variant\n`);

  const single = await relay({ vm: { host: '127.0.0.1', port: vmPort } });
  await measure('single process', () => admitOnce(single, 'vm'));
  await single.close();

  const cluster = (nodeId: string): Promise<ClusterConfig> =>
    freePort().then((p) => ({ redisUrl: redis.url, nodeId, advertise: `127.0.0.1:${p}` }));
  const one = await relay({ vm: { host: '127.0.0.1', port: vmPort } }, await cluster('one'));
  await measure('cluster node', () => admitOnce(one, 'vm'));
  await one.close();

  await dialInAcross(cluster, ['dial-in, same node', 'dial-in, cross-node (link)']);
  const ca = await makeCa('bench cluster CA');
  const files = async (cn: string): Promise<LinkTlsConfig> =>
    writeRelayFiles(tempDir('cardlend-bench-link-'), await ca.issueNode(cn), ca.cert);
  const [tlsA, tlsB] = await Promise.all([files('a'), files('b')]);
  await dialInAcross(
    async (nodeId) => ({ ...(await cluster(nodeId)), linkTls: nodeId === 'a' ? tlsA : tlsB }),
    [undefined, 'dial-in, cross-node (TLS)'],
  );
  redis.stop();
  vm.close();
}

await main();
process.exit(0);
