/**
 * A cluster node offers a resume ticket only once the ticket's record is in the store, so a
 * reconnect that the balancer sends to another node right after the offer finds it: with the
 * write held, the session relays but no offer reaches the page (at admission, and after a
 * resume); with the write refused, the session goes on without a ticket (a drop ends it), and
 * the offer follows once a retried write succeeds; with a real redis-server and A's writes
 * slow, a page that drops right after its offer resumes through B.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../../src/auth/tokens.ts';
import { MemoryClusterStore } from '../../src/cluster/memory-store.ts';
import { RedisClusterStore } from '../../src/cluster/redis-store.ts';
import type { ClusterStore } from '../../src/cluster/store.ts';
import { ticketHash } from '../../src/cluster/ticket-directory.ts';
import type { RelayServer } from '../../src/server.ts';
import { type Browser, FakeVmHost, type HostConnection, msg, until } from '../helpers.ts';
import { RelayFleet } from '../relay-rig.ts';
import { offerAt } from '../resume-helpers.ts';
import { LINK_SECRET, startLinkNode } from './link-tls-rig.ts';
import { TestRedis } from './redis-server.ts';
import { resumable, withTicket, withToken } from './resume-pages.ts';
import { TicketWriteGate } from './ticket-write-gate.ts';

const ORIGIN = 'https://helpdesk.example';
const T = { Init: 1, APDU: 7, CardRemove: 6 } as const;
const INIT = msg(T.Init, 0, '565343440000000200000000');

const fleet = new RelayFleet();
/** This file's redis-server and VSCard stand-in. */
let env: { readonly redis: TestRedis; readonly host: FakeVmHost };

beforeAll(async () => {
  env = { redis: await TestRedis.start(), host: await FakeVmHost.start() };
});
afterEach(() => fleet.teardown());
afterAll(() => Promise.all([env.host.close(), env.redis.stop()]));

/** A node on `store` (none: its own connection to the test's redis-server). */
async function node(nodeId: string, store?: ClusterStore): Promise<RelayServer> {
  const { relay } = await startLinkNode(fleet, {
    redisUrl: env.redis.url,
    nodeId,
    targets: { vm1: { host: '127.0.0.1', port: env.host.port } },
    store,
    config: { allowedOrigins: [ORIGIN], resumeGraceMs: 20_000 },
  });
  await until(() => relay.cluster?.status === 'up', 5000);
  return relay;
}

const page = (relay: RelayServer, credential: string): Browser =>
  fleet.browser(relay, resumable(credential), { origin: ORIGIN });

/** A page lending through `relay` with a fresh token, and its VM connection. */
async function lend(relay: RelayServer): Promise<{ first: Browser; vm: HostConnection }> {
  const vmIndex = env.host.connections.length;
  const nowMs = Date.now();
  const token = mintToken({ secret: LINK_SECRET, targetId: 'vm1', ttlSeconds: 60, nowMs });
  const first = page(relay, withToken(token));
  await first.opened;
  return { first, vm: await env.host.nextConnection(vmIndex) };
}

/** `b` says Init and reads the VM's answer as frame `index`: the session relays. */
async function initRoundTrip(b: Browser, index: number): Promise<void> {
  b.send(INIT);
  await b.frame(index);
  expect(b.frames.map((f) => f.isBinary)).toEqual(new Array<boolean>(index + 1).fill(true));
}

/** A memory store whose ticket writes `gate` controls. */
function gatedMemoryStore(): { gate: TicketWriteGate; store: MemoryClusterStore } {
  const gate = new TicketWriteGate();
  return { gate, store: gate.wrap(new MemoryClusterStore()) };
}

describe('a ticket is offered only once its record is in the store', () => {
  it('write held: the session relays, no offer, no parking; released: the offer (also after a resume)', async () => {
    const { gate, store } = gatedMemoryStore();
    gate.mode = 'hold';
    const a = await node('a', store);
    const { first } = await lend(a);
    await until(() => gate.held.length === 1, 3000, 'the live record write');
    await initRoundTrip(first, 0);
    expect(a.sessions.get('vm1')?.isResumable).toBe(false);
    await gate.release();
    const offer = await offerAt(first, 1);
    const record = await store.findTicket(ticketHash(offer.ticket));
    expect(record).toEqual({ nodeId: 'a', advertise: a.cluster?.advertise, state: 'live' });
    expect(a.sessions.get('vm1')?.isResumable).toBe(true);

    // Resumed: the next ticket waits for its record too.
    first.ws.terminate();
    await until(() => a.sessions.get('vm1')?.isParked === true, 3000, 'parked');
    const second = page(a, withTicket(offer.ticket));
    await second.opened;
    const isLiveHeld = () => gate.held.some((w) => w.record.state === 'live');
    await until(isLiveHeld, 3000, 'the next live record write');
    await initRoundTrip(second, 0);
    expect(a.sessions.get('vm1')?.isResumable).toBe(false); // its old ticket is used up
    await gate.release();
    const next = await offerAt(second, 1);
    expect(a.sessions.get('vm1')?.isResumable).toBe(true);
    expect(next.ticket).not.toBe(offer.ticket);
    expect((await store.findTicket(ticketHash(next.ticket)))?.state).toBe('live');
    expect((await store.findTicket(ticketHash(offer.ticket)))?.state).toBe('used');
  });

  it('write refused: the session goes on without a ticket, and a drop ends it', async () => {
    const { gate, store } = gatedMemoryStore();
    gate.mode = 'fail';
    const a = await node('a', store);
    const { first, vm } = await lend(a);
    await until(() => gate.writes.includes('live'), 3000, 'the live record write');
    await initRoundTrip(first, 0);
    vm.socket.write(msg(T.APDU, 0, '00CA010000'));
    await first.frame(1);
    first.send(msg(T.APDU, 0, '9000'));
    await vm.waitFor(() => vm.messages.some((m) => m.type === T.APDU), 3000, 'the answer');
    expect(first.frames.every((f) => f.isBinary)).toBe(true);
    expect(a.sessions.get('vm1')?.isResumable).toBe(false);
    first.ws.terminate();
    await until(() => a.sessions.size === 0, 3000, 'the session ended');
    await vm.waitFor(() => vm.messages.some((m) => m.type === T.CardRemove), 3000, 'removal');
  });

  it('write refused, then the store takes it: the offer follows a retried write', async () => {
    const { gate, store } = gatedMemoryStore();
    gate.mode = 'fail';
    const a = await node('a', store);
    const { first } = await lend(a);
    await until(() => gate.writes.includes('live'), 3000, 'the live record write');
    await initRoundTrip(first, 0);
    gate.mode = 'pass';
    const offer = await offerAt(first, 1);
    expect((await store.findTicket(ticketHash(offer.ticket)))?.state).toBe('live');
    expect(gate.writes.filter((s) => s === 'live').length).toBeGreaterThan(1);
    expect(a.sessions.get('vm1')?.isResumable).toBe(true);
  });

  it('redis-server, A writing slowly: a page dropping right after its offer resumes through B', async () => {
    const gate = new TicketWriteGate();
    gate.delayMs = 300;
    const slow = new RedisClusterStore({ url: env.redis.url });
    await slow.start();
    const a = await node('a', gate.wrap(slow));
    const b = await node('b');
    const { first, vm } = await lend(a);
    const offer = await offerAt(first, 0);
    first.ws.terminate();
    await until(() => a.sessions.get('vm1')?.isParked === true, 3000, 'parked on A');
    const second = page(b, withTicket(offer.ticket));
    const next = await offerAt(second, 0);
    expect(next.ticket).not.toBe(offer.ticket);
    vm.socket.write(msg(T.APDU, 0, '00CA010000'));
    expect((await second.frame(1)).readUInt32BE(0)).toBe(T.APDU);
    expect(vm.messages.some((m) => m.type === T.CardRemove)).toBe(false);
    expect(a.sessions.size).toBe(1);
    expect(b.sessions.size).toBe(0);
  });
});
