/**
 * Two relay nodes in one process sharing a real redis-server (started by the test) in front
 * of a VSCard stand-in: a token replayed on the other node, a VM lent through the other node,
 * a lease another node took (the fenced renewal ends the session), the store down (live
 * sessions go on, new ones refused with 4019, /readyz 503) and back (admitted after a lease).
 */
import { RELAY_SUBPROTOCOL, RELAY_TOKEN_SUBPROTOCOL_PREFIX, RelayClose } from '@cardlend/vscard';
import { Valkey } from 'iovalkey';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { findFreePort } from '@cardlend/qemu-testbed';
import { mintToken } from '../../src/auth/tokens.ts';
import { createRelayMetrics } from '../../src/ops/metrics.ts';
import type { RelayServer } from '../../src/server.ts';
import { type Browser, FakeVmHost, msg, until } from '../helpers.ts';
import { RelayFleet } from '../relay-rig.ts';
import { TestRedis } from './redis-server.ts';

const SECRET = new Uint8Array(32).fill(7);
const LEASE_MS = 600;

let redis: TestRedis;
let host: FakeVmHost;
const fleet = new RelayFleet();

beforeAll(async () => {
  redis = await TestRedis.start();
  host = await FakeVmHost.start();
});

afterEach(async () => {
  await fleet.teardown();
  if (!(await redisUp())) await redis.restart();
  const c = new Valkey(redis.url);
  await c.flushall();
  c.disconnect();
});

afterAll(async () => {
  await host.close();
  await redis.stop();
});

async function redisUp(): Promise<boolean> {
  const c = new Valkey(redis.url, { lazyConnect: true, retryStrategy: () => null });
  const ok = await c.connect().then(
    () => true,
    () => false,
  );
  c.disconnect();
  return ok;
}

async function node(nodeId: string): Promise<RelayServer> {
  const target = { host: '127.0.0.1', port: host.port };
  const { relay } = await fleet.start(
    host.port,
    {
      targets: { vm1: { ...target }, vm2: { ...target } },
      defaultTarget: 'vm1',
      tokenSecrets: [SECRET],
      cluster: {
        redisUrl: redis.url,
        nodeId,
        advertise: `127.0.0.1:${await findFreePort()}`,
        leaseMs: LEASE_MS,
      },
    },
    { metrics: createRelayMetrics() },
  );
  await until(() => relay.cluster?.status === 'up', 5000);
  return relay;
}

async function metric(relay: RelayServer, name: string): Promise<number> {
  const text = await (await fetch(`${relay.url}metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return Number(line?.split(' ')[1]);
}

function token(targetId = 'vm1'): string {
  return mintToken({ secret: SECRET, targetId, ttlSeconds: 60, nowMs: Date.now() });
}

function open(relay: RelayServer, t: string): Browser {
  return fleet.browser(relay, [RELAY_SUBPROTOCOL, RELAY_TOKEN_SUBPROTOCOL_PREFIX + t]);
}

/** Opens a session and proves it lends: a message reaches the VM stand-in. */
async function lend(relay: RelayServer, t: string): Promise<Browser> {
  const connections = host.connections.length;
  const b = open(relay, t);
  await b.opened;
  await until(() => host.connections.length > connections, 3000);
  const vm = host.connections[connections];
  b.send(msg(3, 0)); // ReaderAdd
  await vm?.waitFor(() => (vm?.messages.length ?? 0) > 0, 3000, 'ReaderAdd at the VM');
  return b;
}

describe('relay cluster nodes on one Redis', () => {
  it('a single-use token used on node A is refused when replayed on node B', async () => {
    const a = await node('a');
    const b = await node('b');
    const t = token();
    await lend(a, t);
    const replay = open(b, t);
    expect((await replay.closed).code).toBe(RelayClose.TOKEN_USED);
  });

  it('a second browser for a VM lent through A is refused on B, and admitted once A ends', async () => {
    const a = await node('a');
    const b = await node('b');
    const first = await lend(a, token());
    const second = open(b, token());
    expect((await second.closed).code).toBe(RelayClose.VM_IN_USE);
    // Another VM is not held.
    await lend(b, token('vm2'));
    first.ws.close(1000);
    await first.closed;
    await until(() => a.sessions.size === 0, 5000);
    await lend(b, token());
  });

  it('a node whose lease another node took (it was paused) ends its session with 4019', async () => {
    const a = await node('a');
    const b = await node('b');
    const held = await lend(a, token());
    // What a long pause of A looks like to the store: its lease lapsed and B took the VM.
    const c = new Valkey(redis.url);
    await c.del('cardlend:vm:vm1');
    c.disconnect();
    await lend(b, token());
    const closed = await held.closed;
    expect(closed.code).toBe(RelayClose.CLUSTER_UNAVAILABLE);
    expect(closed.reason).toMatch(/Another relay node/);
    expect(b.sessions.size).toBe(1);
  });

  it('store down: live sessions go on, new ones refused (4019, readyz), admitted after it is back', async () => {
    const a = await node('a');
    const b = await node('b');
    const live = await lend(a, token());
    const vm = host.connections.at(-1);
    await redis.stop();
    const refused = open(b, token('vm2'));
    const closed = await refused.closed;
    expect(closed.code).toBe(RelayClose.CLUSTER_UNAVAILABLE);
    expect(closed.reason).toMatch(/cluster store/);
    expect(b.readiness.state).toBe('unavailable');
    const down = await fetch(`${b.url}readyz`);
    expect(down.status).toBe(503);
    expect(await down.text()).toMatch(/unavailable: cluster store unreachable/);
    expect(await metric(b, 'cardlend_relay_cluster_store_up')).toBe(0);
    expect(await metric(b, 'cardlend_relay_cluster_admitting')).toBe(0);
    // The live session still carries messages to its VM, for longer than its lease.
    const before = vm?.messages.length ?? 0;
    await new Promise((r) => setTimeout(r, LEASE_MS * 2));
    live.send(msg(3, 0));
    await vm?.waitFor(() => (vm?.messages.length ?? 0) > before, 3000, 'message while down');
    await redis.restart();
    await until(() => b.cluster?.status === 'recovering', 10_000);
    expect(b.readiness.state).toBe('unavailable');
    await until(() => b.readiness.state === 'ready' && a.readiness.state === 'ready', 10_000);
    expect(b.cluster?.status).toBe('up');
    expect(await metric(b, 'cardlend_relay_cluster_store_up')).toBe(1);
    expect(await metric(b, 'cardlend_relay_cluster_admitting')).toBe(1);
    // The store restarted empty, yet A re-asserted its lease: vm1 stays A's.
    const again = open(b, token());
    expect((await again.closed).code).toBe(RelayClose.VM_IN_USE);
    await lend(b, token('vm2'));
    expect(a.sessions.size).toBe(1);
  });
});
