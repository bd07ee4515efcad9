/**
 * A resume that lands on another cluster node (two relay nodes in this process sharing a real
 * redis-server, a VSCard stand-in as the VM): a page lends through node A, its connection
 * drops, and it reconnects with its ticket to node B — B passes it on over the signed internal
 * link to A, where the session runs on; refusals (replay, unknown, expired, another origin)
 * come back through B with the codes a local resume gets; A's session ending closes the page
 * on B with A's code; B draining cuts the pages it pipes, so A's session parks; the store keeps
 * only hashes of tickets.
 */
import net from 'node:net';
import { RELAY_SUBPROTOCOL, RelayClose } from '@cardlend/vscard';
import { Valkey } from 'iovalkey';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { findFreePort } from '@cardlend/qemu-testbed';
import { MAX_ORIGIN_CHARS } from '../../src/auth/origin.ts';
import { mintToken } from '../../src/auth/tokens.ts';
import { ticketHash } from '../../src/cluster/ticket-directory.ts';
import type { RelayConfig } from '../../src/config.ts';
import type { RelayServer, ServerEvent } from '../../src/server.ts';
import { type Browser, FakeVmHost, type HostConnection, msg, until } from '../helpers.ts';
import { RelayFleet } from '../relay-rig.ts';
import { offerAt } from '../resume-helpers.ts';
import { recorded, resumable, withTicket, withToken } from './resume-pages.ts';
import { TestRedis } from './redis-server.ts';

const SECRET = new Uint8Array(32).fill(5);
const ORIGIN = 'https://helpdesk.example';
const T = { APDU: 7, CardRemove: 6, ReaderRemove: 4 } as const;

let redis: TestRedis;
let host: FakeVmHost;
const fleet = new RelayFleet();
/** The server events of each node of the current test. */
const nodeEvents: ServerEvent[][] = [];

beforeAll(async () => {
  redis = await TestRedis.start();
  host = await FakeVmHost.start();
});

// Each test's nodes close cleanly (VM leases released); ticket records are keyed by fresh
// tickets, so tests share the store without flushing it.
afterEach(() => fleet.teardown().then(() => void (nodeEvents.length = 0)));

afterAll(() => Promise.all([host.close(), redis.stop()]));

async function node(nodeId: string, extra: Partial<RelayConfig> = {}): Promise<RelayServer> {
  const started = await fleet.start(host.port, {
    targets: { vm1: { host: '127.0.0.1', port: host.port } },
    defaultTarget: 'vm1',
    tokenSecrets: [SECRET],
    allowedOrigins: [ORIGIN, 'https://other.example', 'https://*.long.example'],
    resumeGraceMs: 20_000,
    cluster: {
      redisUrl: redis.url,
      nodeId,
      advertise: `127.0.0.1:${await findFreePort()}`,
      leaseMs: 1000,
    },
    ...extra,
  });
  const { relay } = started;
  // The fleet's event array grows as the node runs: read it at the end of the test.
  nodeEvents.push(started.events);
  await until(() => relay.cluster?.status === 'up', 5000);
  return relay;
}

/** Every event every node of this test emitted so far, as one text. */
const allEvents = (): string => JSON.stringify(nodeEvents.flat());

const count = (c: HostConnection, type: number): number =>
  c.messages.filter((m) => m.type === type).length;

function page(relay: RelayServer, credential: string, origin = ORIGIN): Browser {
  return fleet.browser(relay, resumable(credential), { origin });
}

/** An allowed Origin of `length` characters (a subdomain of long.example). */
const longOrigin = (length: number): string =>
  `https://${'a'.repeat(length - 'https://.long.example'.length)}.long.example`;

/** A page (from `origin`) lending through A; its VM connection and its first offer. */
async function lendThroughA(a: RelayServer, origin = ORIGIN) {
  const vmIndex = host.connections.length;
  const token = mintToken({ secret: SECRET, targetId: 'vm1', ttlSeconds: 60, nowMs: Date.now() });
  const first = page(a, withToken(token), origin);
  const offer = await offerAt(first, 0);
  const vm = await host.nextConnection(vmIndex);
  return { first, offer, vm };
}

/** Drops `b` without a close frame and waits until A's session is parked. */
async function dropAndPark(a: RelayServer, b: Browser): Promise<void> {
  b.ws.terminate();
  const session = a.sessions.get('vm1');
  await until(() => session?.isParked === true, 3000, 'parked on A');
}

/** Nodes A and B; a page lent through A whose connection dropped (A's session parked). */
async function parkedOnA() {
  const a = await node('a');
  const b = await node('b');
  const lent = await lendThroughA(a);
  await recorded(a, lent.offer.ticket);
  await dropAndPark(a, lent.first);
  return { a, b, ...lent };
}

/** {@link parkedOnA}, then the page reconnected to B with its ticket, its new offer read. */
async function resumedOnB() {
  const parked = await parkedOnA();
  const second = page(parked.b, withTicket(parked.offer.ticket));
  const next = await offerAt(second, 0);
  return { ...parked, second, next };
}

describe('a resume landing on another node', () => {
  it('continues the session on A through B: the guest is answered, no CardRemove', async () => {
    const { a, b, offer, vm, second, next } = await resumedOnB();
    expect(next.ticket).not.toBe(offer.ticket);
    expect(a.sessions.size).toBe(1);
    expect(b.sessions.size).toBe(0);
    // A guest command after the resume reaches the page on B, and its answer the VM.
    vm.socket.write(msg(T.APDU, 0, '00CA010000'));
    const frame = await second.frame(1);
    expect(second.frames[1]?.isBinary).toBe(true);
    expect(frame.readUInt32BE(0)).toBe(T.APDU);
    second.send(msg(T.APDU, 0, '9000'));
    await vm.waitFor(() => count(vm, T.APDU) === 1, 3000, 'the answer reaches the VM');
    expect(count(vm, T.CardRemove) + count(vm, T.ReaderRemove)).toBe(0);
    expect(host.connections.filter((c) => !c.isClosed)).toHaveLength(1);

    // The store holds a hash of each ticket, never the ticket.
    const store = new Valkey(redis.url);
    const keys = await store.keys('*');
    const values = await Promise.all(
      keys.map((k) => store.type(k).then((t) => (t === 'string' ? store.get(k) : ''))),
    );
    store.disconnect();
    const dump = [...keys, ...values].join('\n');
    expect(dump).toContain(ticketHash(offer.ticket));
    expect(dump).not.toContain(offer.ticket);
    expect(dump).not.toContain(next.ticket);
    // Nor does any event either node emitted (what the relay logs).
    expect(allEvents()).toContain('resumed');
    expect(allEvents()).not.toContain(offer.ticket.slice(3));
    expect(allEvents()).not.toContain(next.ticket.slice(3));

    // The page on B drops again, and resumes on A directly with the newest ticket.
    await recorded(a, next.ticket);
    await dropAndPark(a, second);
    const third = page(a, withTicket(next.ticket));
    await offerAt(third, 0);
    expect(count(vm, T.CardRemove)).toBe(0);
  });

  it('refuses through B as A would: a replay 4017, another origin 4018, unknown 4018', async () => {
    const { a, b, offer } = await parkedOnA();
    // Another page's origin presenting the live ticket: as if never issued (and not used up).
    const other = page(b, withTicket(offer.ticket), 'https://other.example');
    expect((await other.closed).code).toBe(RelayClose.RESUME_UNKNOWN);
    // A refused it (B alone would answer 4018 too, without asking A).
    const refusedByA = { kind: 'refused', remote: 'node b', closeCode: RelayClose.RESUME_UNKNOWN };
    expect(nodeEvents[0]).toContainEqual(expect.objectContaining(refusedByA));
    const second = page(b, withTicket(offer.ticket));
    await offerAt(second, 0);
    await recorded(a, offer.ticket, 'used');
    const replay = page(b, withTicket(offer.ticket));
    expect((await replay.closed).code).toBe(RelayClose.RESUME_USED);
    const unknown = page(b, withTicket('r1.AAAAAAAAAAAAAAAAAAAAAA'));
    expect((await unknown.closed).code).toBe(RelayClose.RESUME_UNKNOWN);
    expect(a.sessions.size).toBe(1);
  });

  it(`an Origin of ${MAX_ORIGIN_CHARS} characters resumes through B; a longer one is refused at once on either node (4003)`, async () => {
    const a = await node('a');
    const b = await node('b');
    const longest = longOrigin(MAX_ORIGIN_CHARS);
    const { first, offer } = await lendThroughA(a, longest);
    await recorded(a, offer.ticket);
    await dropAndPark(a, first);
    // One character more: the origin check refuses it, on B as on A; B does not pass it on.
    for (const relay of [b, a]) {
      const tooLong = page(relay, withTicket(offer.ticket), longOrigin(MAX_ORIGIN_CHARS + 1));
      expect((await tooLong.closed).code).toBe(RelayClose.ORIGIN_REFUSED);
    }
    await offerAt(page(b, withTicket(offer.ticket), longest), 0);
    expect(a.sessions.get('vm1')?.isParked).toBe(false);
  });

  it('a replay that reaches A before its record says used is refused by A (4017 through the link)', async () => {
    // Resumed on A itself; B's lookup may still find the record live and pass it on.
    const { a, b, offer } = await parkedOnA();
    const onA = page(a, withTicket(offer.ticket));
    await offerAt(onA, 0);
    await a.cluster?.store.putTicket(
      ticketHash(offer.ticket),
      { nodeId: 'a', advertise: a.cluster.advertise, state: 'live' },
      10_000,
    );
    const replay = page(b, withTicket(offer.ticket));
    expect((await replay.closed).code).toBe(RelayClose.RESUME_USED);
  });

  it("A's session ending closes the page on B with A's code; then its ticket is expired (4016)", async () => {
    const { a, b, vm, second, next } = await resumedOnB();
    vm.socket.destroy(); // the VM goes away
    const closed = await second.closed;
    expect(closed.code).toBe(RelayClose.VM_CLOSED);
    expect(closed.reason.length).toBeGreaterThan(0);
    await until(() => a.sessions.size === 0, 3000, 'session over on A');
    await recorded(a, next.ticket, 'expired');
    const late = page(b, withTicket(next.ticket));
    expect((await late.closed).code).toBe(RelayClose.RESUME_EXPIRED);
  });

  it('Stop on the page on B (a close frame) ends the session on A at once', async () => {
    const { a, vm, second } = await resumedOnB();
    second.ws.close(1000, 'Stop');
    await vm.waitFor(() => count(vm, T.CardRemove) === 1, 3000, 'CardRemove');
    await until(() => a.sessions.size === 0, 3000, 'session over on A');
  });

  it("A's heartbeat crosses the link after a resume on B: the page on B answers A's pings, the session stays", async () => {
    // How long the park lasts does not matter: a parked session is off the heartbeat wheel
    // (resume-heartbeat.test.ts parks one for whole ping intervals on fake timers).
    const a = await node('a', { pingIntervalMs: 100 });
    const b = await node('b');
    const { first, offer } = await lendThroughA(a);
    await recorded(a, offer.ticket);
    await dropAndPark(a, first);
    const second = page(b, withTicket(offer.ticket));
    await offerAt(second, 0);
    let pings = 0;
    second.ws.on('ping', () => pings++);
    // A visit pings only a session that answered the previous ping; one that did not is cut
    // (and parked) instead: the 4th ping shows the pongs of the first three reached A.
    await until(() => pings >= 4, 5000, 'four pings from A');
    expect(a.sessions.get('vm1')?.isParked).toBe(false);
    expect(second.ws.readyState).toBe(second.ws.OPEN);
  });

  it('a page on B that drops again parks the session on A', async () => {
    const { a, vm, second } = await resumedOnB();
    await dropAndPark(a, second);
    expect(count(vm, T.CardRemove)).toBe(0);
  });

  it("B draining (SIGTERM) cuts the page it pipes (1006): A's session parks and resumes on A; B's own page gets 1001", async () => {
    const vm1 = { host: '127.0.0.1', port: host.port };
    const a = await node('a');
    const b = await node('b', { targets: { vm1, vm2: vm1 } });
    const { first, offer, vm } = await lendThroughA(a);
    await recorded(a, offer.ticket);
    await dropAndPark(a, first);
    const piped = page(b, withTicket(offer.ticket));
    const next = await offerAt(piped, 0);
    const own = page(
      b,
      withToken(mintToken({ secret: SECRET, targetId: 'vm2', ttlSeconds: 60, nowMs: Date.now() })),
    );
    await offerAt(own, 0);
    await recorded(a, next.ticket);

    fleet.relays.splice(fleet.relays.indexOf(b), 1);
    await b.close(); // what SIGTERM runs
    expect((await own.closed).code).toBe(RelayClose.GOING_AWAY);
    expect((await piped.closed).code).toBe(1006);
    const session = a.sessions.get('vm1');
    await until(() => session?.isParked === true, 3000, 'parked on A');
    expect(count(vm, T.CardRemove)).toBe(0);

    const third = page(a, withTicket(next.ticket));
    await offerAt(third, 0);
    expect(a.sessions.get('vm1')).toBe(session);
    expect(session?.isParked).toBe(false);
    expect(count(vm, T.CardRemove)).toBe(0);
  });
});

describe('a holder that cannot be reached or answers garbage', () => {
  const TICKET = 'r1.CCCCCCCCCCCCCCCCCCCCCC';

  /** A fake holder on loopback that answers each link with `answer`. */
  async function fakeHolder(answer: Buffer): Promise<net.Server> {
    const server = net.createServer((s) => {
      s.on('error', () => {});
      s.once('data', () => s.write(answer));
    });
    await new Promise<void>((r) => server.listen({ host: '127.0.0.1', port: 0 }, r));
    return server;
  }

  /** A holder that accepts links and never answers; `links` counts them. */
  async function silentHolder(): Promise<{ server: net.Server; port: number; links: number }> {
    const holder = { server: net.createServer(), port: 0, links: 0 };
    holder.server.on('connection', (s) => (holder.links++, s.on('error', () => {})));
    await new Promise<void>((r) => holder.server.listen({ host: '127.0.0.1', port: 0 }, r));
    holder.port = (holder.server.address() as net.AddressInfo).port;
    return holder;
  }

  async function recordAt(b: RelayServer, advertise: string): Promise<void> {
    const record = { nodeId: 'z', advertise, state: 'live' } as const;
    await b.cluster?.store.putTicket(ticketHash(TICKET), record, 10_000);
  }

  it('garbage after OK drops the page (1006: it may try again); B serves on', async () => {
    const b = await node('b');
    const holder = await fakeHolder(Buffer.from('OK\n\x7f\xff\xff\xff\x01garbage', 'latin1'));
    try {
      await recordAt(b, `127.0.0.1:${(holder.address() as net.AddressInfo).port}`);
      const p = page(b, withTicket(TICKET));
      expect((await p.closed).code).toBe(1006);
    } finally {
      holder.close();
    }
    const unknown = page(b, withTicket('r1.DDDDDDDDDDDDDDDDDDDDDD'));
    expect((await unknown.closed).code).toBe(RelayClose.RESUME_UNKNOWN);
  });

  it('a page that floods while its ticket is passed on is refused as a flood (4008)', async () => {
    const b = await node('b');
    const silent = await silentHolder();
    try {
      await recordAt(b, `127.0.0.1:${silent.port}`);
      const p = page(b, withTicket(TICKET));
      await p.opened;
      for (let i = 0; i < 40; i++) p.send(msg(T.APDU, 0, '9000'));
      expect((await p.closed).code).toBe(RelayClose.RATE_LIMITED);
    } finally {
      silent.server.close();
    }
  });

  it('B draining while it passes a ticket on drops the page (1006): it keeps its ticket', async () => {
    const b = await node('b');
    const silent = await silentHolder();
    try {
      await recordAt(b, `127.0.0.1:${silent.port}`);
      const p = page(b, withTicket(TICKET));
      await until(() => silent.links === 1, 3000, 'the hello under way');
      fleet.relays.splice(fleet.relays.indexOf(b), 1);
      await b.close(); // what SIGTERM runs
      expect((await p.closed).code).toBe(1006);
    } finally {
      silent.server.close();
    }
  });

  it('a holder that refuses the link drops the page (1006); one not running: over (4016)', async () => {
    const b = await node('b');
    const holder = await fakeHolder(Buffer.from('ERR bad mac\n'));
    try {
      await recordAt(b, `127.0.0.1:${(holder.address() as net.AddressInfo).port}`);
      expect((await page(b, withTicket(TICKET)).closed).code).toBe(1006);
    } finally {
      holder.close();
    }
    await recordAt(b, `127.0.0.1:${await findFreePort()}`);
    expect((await page(b, withTicket(TICKET)).closed).code).toBe(RelayClose.RESUME_EXPIRED);
  });
});

describe('the resume link refuses what is not a signed, fresh resume hello', () => {
  /** Sends `lines` on a raw connection to `relay`'s link port and collects the answer. */
  function rawLink(relay: RelayServer, data: string | Buffer): Promise<Buffer> {
    const [host, port] = (relay.cluster?.advertise ?? '').split(':');
    return new Promise((resolve) => {
      const s = net.connect({ host, port: Number(port) });
      const got: Buffer[] = [];
      s.on('data', (d: Buffer) => got.push(d));
      s.on('close', () => resolve(Buffer.concat(got)));
      s.on('error', () => resolve(Buffer.concat(got)));
      s.write(data);
      setTimeout(() => s.end(), 300);
    });
  }

  it('a forged hello gets ERR bad mac; a replayed one ERR replayed; garbage ERR malformed', async () => {
    const { linkKey, signResumeHello } = await import('../../src/cluster/link-auth.ts');
    const a = await node('a');
    const request = {
      ticket: 'r1.BBBBBBBBBBBBBBBBBBBBBB',
      origin: ORIGIN,
      protocol: RELAY_SUBPROTOCOL,
    };
    const forged = signResumeHello(
      linkKey(new Uint8Array(32).fill(1)),
      request,
      'mallory',
      Date.now(),
    );
    expect((await rawLink(a, forged)).toString()).toBe('ERR bad mac\n');
    const good = signResumeHello(linkKey(SECRET), request, 'b', Date.now());
    const answer = await rawLink(a, good);
    // Accepted, and the unknown ticket refused in a close frame: length, kind 3, code 4018.
    expect(answer.subarray(0, 3).toString()).toBe('OK\n');
    expect(answer[7]).toBe(3);
    expect(answer.readUInt16BE(8)).toBe(RelayClose.RESUME_UNKNOWN);
    expect((await rawLink(a, good)).toString()).toBe('ERR replayed\n');
    expect((await rawLink(a, 'garbage\n')).toString()).toBe('ERR malformed\n');
    expect((await rawLink(a, Buffer.alloc(4096, 0x41))).toString()).toBe('ERR hello too long\n');
    // The node serves on.
    expect(a.cluster?.status).toBe('up');
  });
});
