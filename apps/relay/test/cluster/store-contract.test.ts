/**
 * The cluster store's contract, run against the embedded store (injected time) and against a
 * real redis-server on loopback (real time, short leases): token claims, VM leases with
 * fencing, the dial-in directory, and — Redis only — what happens while the server is down
 * and after it restarted empty.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryClusterStore } from '../../src/cluster/memory-store.ts';
import { RedisClusterStore } from '../../src/cluster/redis-store.ts';
import { StoreUnavailableError, type ClusterStore } from '../../src/cluster/store.ts';
import { TestRedis } from './redis-server.ts';

interface Subject {
  store: ClusterStore;
  /** Lets `ms` pass for the store. */
  pass(ms: number): Promise<void>;
}

let redis: TestRedis;
const opened: RedisClusterStore[] = [];

beforeAll(async () => {
  redis = await TestRedis.start();
});

afterAll(async () => {
  for (const s of opened) await s.close();
  await redis.stop();
});

async function redisStore(prefix: string): Promise<RedisClusterStore> {
  const store = new RedisClusterStore({ url: redis.url, prefix, retryMs: 50 });
  opened.push(store);
  await store.start();
  return store;
}

let prefixes = 0;
const SUBJECTS: [string, () => Promise<Subject>][] = [
  [
    'memory',
    () => {
      let now = 1_000_000;
      const store = new MemoryClusterStore({ now: () => now });
      return Promise.resolve({ store, pass: (ms) => Promise.resolve(void (now += ms)) });
    },
  ],
  [
    'redis',
    async () => ({
      store: await redisStore(`t${++prefixes}:`),
      pass: (ms) => new Promise((r) => setTimeout(r, ms + 30)),
    }),
  ],
];

describe.each(SUBJECTS)('cluster store contract: %s', (_name, make) => {
  it('a single-use token id is claimed once, and again only after it expired', async () => {
    const { store, pass } = await make();
    expect(await store.claimToken('jti-aaaaaaaaaaaaaaaa', 200)).toEqual({ ok: true });
    expect(await store.claimToken('jti-aaaaaaaaaaaaaaaa', 200)).toEqual({
      ok: false,
      reason: 'used',
    });
    expect(await store.claimToken('jti-bbbbbbbbbbbbbbbb', 200)).toEqual({ ok: true });
    await pass(200);
    expect(await store.claimToken('jti-aaaaaaaaaaaaaaaa', 200)).toEqual({ ok: true });
  });

  it('one holder per VM; fences grow with each new holder; release frees it', async () => {
    const { store } = await make();
    const a = await store.acquireVm('vm1', 'node-a', 5000);
    expect(a.ok).toBe(true);
    if (!a.ok) return;
    expect(a.grant.holder.startsWith('node-a/')).toBe(true);
    expect(await store.acquireVm('vm1', 'node-b', 5000)).toEqual({
      ok: false,
      reason: 'held',
      holderNode: 'node-a',
    });
    expect(await store.vmHolder('vm1')).toBe('node-a');
    expect((await store.acquireVm('vm2', 'node-b', 5000)).ok).toBe(true);
    await store.releaseVm(a.grant);
    expect(await store.vmHolder('vm1')).toBeUndefined();
    const b = await store.acquireVm('vm1', 'node-b', 5000);
    expect(b.ok && b.grant.fence > a.grant.fence).toBe(true);
    // The old grant can neither renew nor release the new holder's lease.
    expect(await store.renewVm(a.grant, 5000)).toBe('lost');
    await store.releaseVm(a.grant);
    expect(await store.vmHolder('vm1')).toBe('node-b');
  });

  it("a dead holder's lease lapses within its length; renewing keeps it", async () => {
    const { store, pass } = await make();
    const a = await store.acquireVm('vm1', 'node-a', 300);
    if (!a.ok) throw new Error('not acquired');
    await pass(150);
    expect(await store.renewVm(a.grant, 300)).toBe('renewed');
    await pass(200);
    expect(await store.vmHolder('vm1')).toBe('node-a');
    await pass(150);
    expect(await store.vmHolder('vm1')).toBeUndefined();
    // Lapsed but nobody took it since: the slow holder may take it again.
    expect(await store.renewVm(a.grant, 300)).toBe('reasserted');
    expect(await store.vmHolder('vm1')).toBe('node-a');
  });

  it('a lease taken after a lapse (its holder died) says so; after a release it does not', async () => {
    const { store, pass } = await make();
    const a = await store.acquireVm('vm1', 'node-a', 200);
    expect(a.ok && a.isAfterLapse).toBe(false);
    if (!a.ok) return;
    await store.releaseVm(a.grant);
    const b = await store.acquireVm('vm1', 'node-b', 200);
    expect(b.ok && b.isAfterLapse).toBe(false);
    await pass(200); // node-b died: its lease lapses unreleased
    const c = await store.acquireVm('vm1', 'node-c', 200);
    expect(c.ok && c.isAfterLapse).toBe(true);
  });

  it('a holder that was paused while another node took the VM has lost it', async () => {
    const { store, pass } = await make();
    const a = await store.acquireVm('vm1', 'node-a', 200);
    if (!a.ok) throw new Error('not acquired');
    await pass(200);
    const b = await store.acquireVm('vm1', 'node-b', 200);
    expect(b.ok).toBe(true);
    await pass(200); // b's lease lapsed too, but its fence is newer than a's
    expect(await store.renewVm(a.grant, 200)).toBe('lost');
    expect(await store.vmHolder('vm1')).toBeUndefined();
  });

  it('published sessions are listed across nodes and lapse; end requests are taken once', async () => {
    const { store, pass } = await make();
    const rec = (node: string, sessionId: number) => ({
      node,
      sessionId,
      target: 'vm1',
      clientAddress: '192.0.2.1',
      since: 1,
      apduCount: 3,
    });
    await store.publishSessions('node-a', [rec('node-a', 1)], 200);
    await store.publishSessions('node-b', [rec('node-b', 7), rec('node-b', 8)], 400);
    const ids = (await store.listSessions()).map((s) => `${s.node}/${s.sessionId}`).sort();
    expect(ids).toEqual(['node-a/1', 'node-b/7', 'node-b/8']);
    await pass(250);
    expect((await store.listSessions()).map((s) => s.node)).toEqual(['node-b', 'node-b']);
    await store.requestEnd('node-b', 7, 1000);
    await store.requestEnd('node-b', 8, 1000);
    expect((await store.takeEndRequests('node-b')).sort()).toEqual([7, 8]);
    expect(await store.takeEndRequests('node-b')).toEqual([]);
    expect(await store.takeEndRequests('node-a')).toEqual([]);
  });

  it('the dial-in directory: announce, find, withdraw only by the announcing node, lapse', async () => {
    const { store, pass } = await make();
    expect(await store.findDialIn('vm9')).toBeUndefined();
    await store.announceDialIn(
      { targetId: 'vm9', nodeId: 'node-a', advertise: '10.0.0.1:8443' },
      300,
    );
    expect(await store.findDialIn('vm9')).toEqual({
      targetId: 'vm9',
      nodeId: 'node-a',
      advertise: '10.0.0.1:8443',
    });
    await store.withdrawDialIn('vm9', 'node-b');
    expect((await store.findDialIn('vm9'))?.nodeId).toBe('node-a');
    await store.withdrawDialIn('vm9', 'node-a');
    expect(await store.findDialIn('vm9')).toBeUndefined();
    await store.announceDialIn({ targetId: 'vm9', nodeId: 'node-b', advertise: 'h:1' }, 200);
    await pass(200);
    expect(await store.findDialIn('vm9')).toBeUndefined();
  });

  it('the ticket directory: record, overwrite with a new state, lapse', async () => {
    const { store, pass } = await make();
    const hash = 'h'.repeat(43);
    expect(await store.findTicket(hash)).toBeUndefined();
    const live = { nodeId: 'node-a', advertise: '10.0.0.1:8443', state: 'live' } as const;
    await store.putTicket(hash, live, 300);
    expect(await store.findTicket(hash)).toEqual(live);
    expect(await store.findTicket('g'.repeat(43))).toBeUndefined();
    await pass(150);
    await store.putTicket(hash, live, 300); // renewed
    await pass(200);
    expect(await store.findTicket(hash)).toEqual(live);
    await store.putTicket(hash, { ...live, state: 'used' }, 200);
    expect((await store.findTicket(hash))?.state).toBe('used');
    await pass(200);
    expect(await store.findTicket(hash)).toBeUndefined();
  });
});

describe('redis store: the server down and back', () => {
  it('rejects with StoreUnavailableError while down, reports both edges, recovers by itself', async () => {
    const store = await redisStore('down:');
    const edges: boolean[] = [];
    store.onAvailability((up) => edges.push(up));
    expect(store.isAvailable).toBe(true);
    const a = await store.acquireVm('vm1', 'node-a', 60_000);
    if (!a.ok) throw new Error('not acquired');
    await redis.stop();
    await expect(store.claimToken('jti-cccccccccccccccc', 1000)).rejects.toBeInstanceOf(
      StoreUnavailableError,
    );
    await expect(store.renewVm(a.grant, 60_000)).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(store.isAvailable).toBe(false);
    await redis.restart();
    await until(() => store.isAvailable);
    expect(edges).toEqual([false, true]);
    // The store came back empty: the holder re-asserts its lease, a newcomer is refused.
    expect(await store.renewVm(a.grant, 60_000)).toBe('reasserted');
    expect((await store.acquireVm('vm1', 'node-b', 60_000)).ok).toBe(false);
    const c = await store.acquireVm('vm2', 'node-b', 60_000);
    // Fences keep growing across the restart (the counter restarts at the store's clock).
    expect(c.ok && c.grant.fence > a.grant.fence).toBe(true);
  });
});

async function until(cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
