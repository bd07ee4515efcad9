/**
 * A resume through another cluster node against real QEMU 7.2 (two relay nodes in this process
 * on a real redis-server): a page lends through node A, its connection is cut, it reconnects
 * with its ticket to node B and announces the card again through B — QEMU answers each message
 * through the link and never sees a CardRemove or a reader detach; Stop on B removes the card.
 */
import { startQemu, findFreePort, type QemuHandle } from '@cardlend/qemu-testbed';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../../src/auth/tokens.ts';
import type { RelayServer } from '../../src/server.ts';
import { Browser, until, wsUrl } from '../helpers.ts';
import { CAC_ATR, RelayFleet } from '../relay-rig.ts';
import { ResumingPage } from '../resume-helpers.ts';
import { TestRedis } from './redis-server.ts';
import { recorded, resumable, withTicket, withToken } from './resume-pages.ts';

const SECRET = new Uint8Array(32).fill(0x3c);

let redis: TestRedis;
let qemu: QemuHandle;
const fleet = new RelayFleet();

beforeAll(async () => {
  redis = await TestRedis.start();
  qemu = await startQemu({ version: '7.2', debug: 2 });
}, 120_000);

afterAll(async () => {
  await fleet.teardown();
  await qemu?.stop();
  await redis?.stop();
});

async function node(nodeId: string): Promise<RelayServer> {
  const { relay } = await fleet.start(qemu.port, {
    targets: { vm1: { host: '127.0.0.1', port: qemu.port } },
    defaultTarget: 'vm1',
    tokenSecrets: [SECRET],
    resumeGraceMs: 20_000,
    cluster: {
      redisUrl: redis.url,
      nodeId,
      advertise: `127.0.0.1:${await findFreePort()}`,
      leaseMs: 1500,
    },
  });
  await until(() => relay.cluster?.status === 'up', 5000);
  return relay;
}

function open(relay: RelayServer, credential: string): ResumingPage {
  const b = new Browser(wsUrl(relay), resumable(credential));
  fleet.browsers.push(b);
  return new ResumingPage(b);
}

describe('a resume through another node, real QEMU 7.2', () => {
  it('the card stays in the VM and QEMU answers through B', async () => {
    const a = await node('a');
    const b = await node('b');
    const token = mintToken({ secret: SECRET, targetId: 'vm1', ttlSeconds: 60, nowMs: Date.now() });
    const first = open(a, withToken(token));
    const offer = await first.offer();
    await first.announce();
    await until(() => a.sessions.size === 1, 3000);
    await recorded(a, offer.ticket);

    const mark = qemu.output.length;
    first.browser.ws.terminate();
    await until(() => a.sessions.get('vm1')?.isParked === true, 3000, 'parked on A');
    const second = open(b, withTicket(offer.ticket));
    await second.offer();
    await second.announce(); // Init, ReaderAdd, ATR: each answered by QEMU through the link
    await qemu.waitForLog(/VSC_ATR/, 5000, mark);
    expect(a.sessions.size).toBe(1);
    expect(b.sessions.size).toBe(0);
    const log = qemu.output.slice(mark).join('\n');
    expect(log).not.toMatch(/VSC_CardRemove/);
    expect(log).not.toMatch(/CCID Detach/);
    await second.expectAck({ type: 'ATR', readerId: 0, atr: CAC_ATR });

    // Stop on the page on B: the card is removed in the VM, the session ends on A.
    const stopMark = qemu.output.length;
    second.browser.ws.close(1000);
    await qemu.waitForLog(/VSC_CardRemove/, 5000, stopMark);
    await until(() => a.sessions.size === 0, 5000, 'session over on A');
  }, 60_000);
});
