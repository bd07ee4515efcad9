/**
 * A VM that dialled in to node A lent from a browser on node B (two relay nodes in this
 * process on a real redis-server, real QEMU 7.2 in dial-in mode): the directory names A, B
 * reaches the VM through A over the signed internal link, the guest sees the card and its
 * removal; a link hello with a wrong key is refused.
 */
import net from 'node:net';
import { clientInit, encodeMessage, RelayClose } from '@cardlend/vscard';
import { findFreePort, startQemu, type QemuHandle } from '@cardlend/qemu-testbed';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../../src/auth/tokens.ts';
import { linkKey, signHello } from '../../src/cluster/link-auth.ts';
import type { RelayServer } from '../../src/server.ts';
import { startTestRelay, until } from '../helpers.ts';
import { announceCard } from '../announce.ts';
import { TestRedis } from './redis-server.ts';
import { TokenBrowser } from './relay-node.ts';

const SECRET = new Uint8Array(32).fill(9);
const YUBIKEY_ATR = Uint8Array.from(
  Buffer.from('3bfd1300008131fe158073c021c057597562694b657940', 'hex'),
);

let redis: TestRedis;
let qemu: QemuHandle;
let a: RelayServer;
let b: RelayServer;
const linkPorts: number[] = [];

async function node(nodeId: string, dialInPort: number): Promise<RelayServer> {
  const linkPort = await findFreePort();
  linkPorts.push(linkPort);
  const { relay } = await startTestRelay(0, {
    targets: { vm9: { host: '127.0.0.1', port: dialInPort, isDialIn: true } },
    defaultTarget: 'vm9',
    tokenSecrets: [SECRET],
    cluster: { redisUrl: redis.url, nodeId, advertise: `127.0.0.1:${linkPort}`, leaseMs: 1500 },
  });
  return relay;
}

beforeAll(async () => {
  redis = await TestRedis.start();
  const dialInA = await findFreePort();
  a = await node('a', dialInA);
  b = await node('b', 0);
  qemu = await startQemu({ version: '7.2', debug: 2, dialIn: { port: dialInA } });
}, 60_000);

afterAll(async () => {
  await b?.close();
  await a?.close();
  await qemu?.stop();
  await redis?.stop();
});

function token(): string {
  return mintToken({ secret: SECRET, targetId: 'vm9', ttlSeconds: 60, nowMs: Date.now() });
}

describe('dial-in across nodes', () => {
  it('a VM dialled in to A is lent from a browser on B through the link, and its card removed after', async () => {
    await until(() => a.dialInPorts.size === 1, 5000);
    let entry;
    for (let i = 0; i < 100 && entry === undefined; i++) {
      entry = await a.cluster?.store.findDialIn('vm9');
      if (entry === undefined) await new Promise((r) => setTimeout(r, 100));
    }
    expect(entry).toMatchObject({ nodeId: 'a', advertise: `127.0.0.1:${linkPorts[0]}` });
    const mark = qemu.output.length;
    const browser = new TokenBrowser(b.address, token());
    await announceCard((msg) => browser.request(msg), YUBIKEY_ATR, 'via b');
    await qemu.waitForLog(/VSC_ATR/, 5000, mark);
    // A card answer through the link reaches usb-ccid (no guest command outstanding: it says so).
    const apduMark = qemu.output.length;
    browser.browser.send(
      encodeMessage({ type: 'APDU', readerId: 0, apdu: Uint8Array.of(0x90, 0x00) }),
    );
    await qemu.waitForLog(/APDU without pending answers/, 10_000, apduMark);
    expect(b.sessions.size).toBe(1);
    expect(a.sessions.size).toBe(0);
    // The VM is B's for the whole cluster: a browser on A is refused.
    const onA = new TokenBrowser(a.address, token());
    expect((await onA.closed).code).toBe(RelayClose.VM_IN_USE);
    browser.browser.ws.close(1000);
    await browser.closed;
    await qemu.waitForLog(/VSC_CardRemove/, 5000, mark);
    await until(() => b.sessions.size === 0, 5000);
    // QEMU redials A (reconnect=1), A announces it again, and B lends it again.
    let again: TokenBrowser | undefined;
    for (let i = 0; i < 60 && again === undefined; i++) {
      await new Promise((r) => setTimeout(r, 250));
      const t = new TokenBrowser(b.address, token());
      const first = await Promise.race([
        t.request(clientInit(), 2000).then(() => 'ok'),
        t.closed.then((c) => String(c.code)),
      ]).catch(() => 'timeout');
      if (first === 'ok') again = t;
      else t.browser.ws.terminate();
    }
    expect(again).toBeDefined();
    again?.browser.ws.close(1000);
  }, 60_000);

  it('a link hello signed with another key is refused', async () => {
    const wrong = linkKey(new Uint8Array(32).fill(1));
    const answer = await new Promise<string>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port: linkPorts[0] as number });
      let got = '';
      s.on('data', (d) => (got += d.toString()));
      s.on('close', () => resolve(got));
      s.on('error', () => resolve(got));
      s.write(signHello(wrong, 'vm9', 'mallory', Date.now()));
    });
    expect(answer).toBe('ERR bad mac\n');
  });
});
