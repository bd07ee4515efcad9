/**
 * A resume across relay processes (two `src/main.ts` nodes configured from their files, a real
 * redis-server, a VSCard stand-in as the VM): a native client (no Origin, like the CLI) lends
 * through node A, drops, and resumes through node B; the guest's command after the resume is
 * answered through B. Then A is killed with `kill -9`: the client on B loses its connection
 * (1006), and its ticket, presented to B again, is told the session is over (4016). Neither
 * node's log carries a ticket.
 */
import { RELAY_PATH, RelayClose } from '@cardlend/vscard';
import { Valkey } from 'iovalkey';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../../src/auth/tokens.ts';
import { ticketHash } from '../../src/cluster/ticket-directory.ts';
import { Browser, FakeVmHost, msg } from '../helpers.ts';
import { offerAt } from '../resume-helpers.ts';
import { TestRedis } from './redis-server.ts';
import { randomFileSecret, RelayNode, writeSecret } from './relay-node.ts';
import { resumable, withTicket, withToken } from './resume-pages.ts';

const SECRET = randomFileSecret();
const APDU = 7;
const CARD_REMOVE = 6;

let redis: TestRedis;
let host: FakeVmHost;
let a: RelayNode;
let b: RelayNode;
const browsers: Browser[] = [];

beforeAll(async () => {
  redis = await TestRedis.start();
  host = await FakeVmHost.start();
  const secretFile = writeSecret(SECRET);
  const setup = { redisUrl: redis.url, targets: { vm1: `127.0.0.1:${host.port}` }, secretFile };
  [a, b] = await Promise.all([
    RelayNode.start({ ...setup, nodeId: 'a', leaseMs: 1500 }),
    RelayNode.start({ ...setup, nodeId: 'b', leaseMs: 1500 }),
  ]);
}, 60_000);

afterAll(async () => {
  for (const x of browsers) x.ws.terminate();
  await Promise.all([a?.stop(), b?.stop()]);
  await host?.close();
  await redis?.stop();
});

function client(node: RelayNode, credential: string): Browser {
  const x = new Browser(`ws://127.0.0.1:${node.port}${RELAY_PATH}`, resumable(credential));
  browsers.push(x);
  return x;
}

/** Waits until the store holds `ticket`'s record (written right after the offer). */
async function recorded(ticket: string): Promise<void> {
  const store = new Valkey(redis.url);
  try {
    for (let i = 0; i < 200; i++) {
      if ((await store.get(`cardlend:ticket:${ticketHash(ticket)}`))?.startsWith('live\n')) return;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error('ticket not recorded');
  } finally {
    store.disconnect();
  }
}

describe('a resume across relay processes', () => {
  it('resumes through B; after A is killed the ticket is told the session is over', async () => {
    const token = mintToken({ secret: SECRET, targetId: 'vm1', ttlSeconds: 60, nowMs: Date.now() });
    const first = client(a, withToken(token));
    const offer = await offerAt(first);
    const vm = await host.nextConnection(0);
    await recorded(offer.ticket);
    first.ws.terminate();

    const second = client(b, withTicket(offer.ticket));
    const next = await offerAt(second);
    vm.socket.write(msg(APDU, 0, '00A4040000'));
    expect((await second.frame(1, 10_000)).readUInt32BE(0)).toBe(APDU);
    second.send(msg(APDU, 0, '9000'));
    await vm.waitFor(() => vm.messages.some((m) => m.type === APDU), 10_000, 'the answer');
    expect(vm.messages.filter((m) => m.type === CARD_REMOVE)).toHaveLength(0);
    await recorded(next.ticket);

    await a.kill9();
    expect((await second.closed).code).toBe(1006);
    const late = client(b, withTicket(next.ticket));
    expect((await late.closed).code).toBe(RelayClose.RESUME_EXPIRED);

    const logs = a.stdout + b.stdout;
    expect(logs).toContain('lending session resumed');
    expect(logs).not.toContain(offer.ticket.slice(3));
    expect(logs).not.toContain(next.ticket.slice(3));
  }, 60_000);
});
