/**
 * Issue 15's proof with a booted guest: a VM whose QEMU 7.2 dials in to relay node A
 * (`reconnect=1`) is lent from a page on node B (two relay nodes in this process sharing a real
 * redis-server on loopback), and the guest's own APDUs (opensc-tool in the guest, through
 * pcscd and usb-ccid) are answered by the page's card, across the signed link between the nodes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { defaultConfig, mintToken, startRelayServer, type RelayServer } from '@cardlend/relay';
import { RELAY_PATH } from '@cardlend/vscard';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startGuest } from '../src/boot-guest.ts';
import { bytesToHex } from '../src/markers.ts';
import { startPageClient } from '../src/page-client.ts';
import { createTestCard, TEST_CARD_AID, TEST_CARD_ATR } from '../src/test-card.ts';
import { useGuestFixture } from './guest-fixture.ts';

const BOOT_TIMEOUT_MS = 150_000;
const SECRET = new Uint8Array(32).fill(9);
const SELECT = `00A40400${TEST_CARD_AID.length.toString(16).padStart(2, '0')}${bytesToHex(TEST_CARD_AID)}`;
const REDIS_SERVER = process.env['REDIS_SERVER'] ?? '/usr/bin/redis-server';

const fixture = useGuestFixture();
let redis: { url: string; child: ChildProcess };

/** A redis-server on a free loopback port, without persistence; resolves once it answers PING. */
async function startRedis(): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(
    REDIS_SERVER,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  for (let i = 0; i < 200 && !(await answersPing(port)); i++) {
    if (child.exitCode !== null) throw new Error(`redis-server exited (${child.exitCode})`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { url: `redis://127.0.0.1:${port}`, child };
}

function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    const done = (ok: boolean): void => void (s.destroy(), resolve(ok));
    s.setTimeout(1000, () => done(false));
    s.once('error', () => done(false));
    s.once('connect', () => s.write('PING\r\n'));
    s.once('data', (d) => done(d.toString().startsWith('+PONG')));
  });
}

/** One cluster node serving VM `vm9` as a dial-in target on `dialInPort` (0: none here). */
async function startNode(nodeId: string, dialInPort: number): Promise<RelayServer> {
  const linkPort = await freePort();
  return startRelayServer({
    config: {
      ...defaultConfig(),
      listen: { host: '127.0.0.1', port: 0 },
      targets: { vm9: { host: '127.0.0.1', port: dialInPort, isDialIn: true } },
      defaultTarget: 'vm9',
      tokenSecrets: [SECRET],
      staticDir: mkdtempSync(path.join(os.tmpdir(), 'cardlend-static-')),
      cluster: { redisUrl: redis.url, nodeId, advertise: `127.0.0.1:${linkPort}`, leaseMs: 1500 },
    },
  });
}

beforeAll(async () => {
  redis = await startRedis();
}, 30_000);

afterAll(() => {
  redis?.child.kill('SIGKILL');
});

describe('a booted guest dialled in to node A, lent from node B', () => {
  it(
    "the guest's APDUs are answered by the card of a page on B",
    async () => {
      const dialInA = await freePort();
      const a = await startNode('a', dialInA);
      fixture.defer(() => a.close());
      const b = await startNode('b', 0);
      fixture.defer(() => b.close());
      const guest = startGuest({
        image: fixture.image,
        vscardPort: dialInA,
        chardevMode: 'dial-in',
        scenario: ['atr', 'apdu'],
        args: { apdus: SELECT },
        timeoutMs: BOOT_TIMEOUT_MS,
      });
      fixture.defer(() => guest.kill());
      // QEMU dialled in to A and A published it in the cluster's directory.
      let entry: Awaited<ReturnType<NonNullable<RelayServer['cluster']>['store']['findDialIn']>>;
      for (let i = 0; i < 600 && entry === undefined; i++) {
        entry = await a.cluster?.store.findDialIn('vm9');
        if (entry === undefined) await new Promise((r) => setTimeout(r, 100));
      }
      expect(entry).toMatchObject({ nodeId: 'a' });
      await guest.waitForMarker((m) => m.kind === 'BOOT', 120_000);

      const token = mintToken({
        secret: SECRET,
        targetId: 'vm9',
        ttlSeconds: 300,
        nowMs: Date.now(),
      });
      const page = await startPageClient({
        url: `ws://127.0.0.1:${b.address.port}${RELAY_PATH}`,
        card: createTestCard(),
        token,
      });
      fixture.defer(() => page.stop());
      // The lending session is B's; A only carries the VM's stream over the link.
      expect(b.sessions.size).toBe(1);
      expect(a.sessions.size).toBe(0);

      const run = await guest.result;
      expect(run.results.find((m) => m.fields['name'] === 'atr')?.fields).toMatchObject({
        ok: '1',
        atr: bytesToHex(TEST_CARD_ATR),
      });
      const apdus = run.results.filter((m) => m.fields['name'] === 'apdu');
      expect(apdus.map((m) => m.fields['sw'])).toEqual(['9000']);
      expect(apdus[0]?.fields['data']).toBe(`6f0b8409${bytesToHex(TEST_CARD_AID)}`);
      expect(page.commandsReceived).toBeGreaterThanOrEqual(1);
    },
    BOOT_TIMEOUT_MS + 60_000,
  );
});
