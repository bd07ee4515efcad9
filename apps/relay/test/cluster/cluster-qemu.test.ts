/**
 * Three relay processes sharing a real redis-server, in front of real QEMU 7.2 (paused
 * machine, usb-ccid + ccid-card-passthru with debug logs), all on loopback and started here:
 * a token replayed on another node, a second browser on another node, `kill -9` of the node
 * holding the session (the lease frees within its length; the next node removes the dead
 * session's card in the guest before lending again), and the store restarted mid-session.
 */
import { clientInit, RelayClose } from '@cardlend/vscard';
import { startQemu, type QemuHandle } from '@cardlend/qemu-testbed';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../../src/auth/tokens.ts';
import { announceCard } from '../announce.ts';
import { TestRedis } from './redis-server.ts';
import { randomFileSecret, RelayNode, TokenBrowser, writeSecret } from './relay-node.ts';

const SECRET = randomFileSecret();
const LEASE_MS = 1500;
const OPERATOR_SECRET = 'helpdesk-operator-secret-42';
const YUBIKEY_ATR = Uint8Array.from(
  Buffer.from('3bfd1300008131fe158073c021c057597562694b657940', 'hex'),
);

let redis: TestRedis;
let qemu: QemuHandle;
const nodes: Record<'a' | 'b' | 'c', RelayNode> = {} as never;
const browsers: TokenBrowser[] = [];
const extra: RelayNode[] = [];

beforeAll(async () => {
  redis = await TestRedis.start();
  qemu = await startQemu({ version: '7.2', debug: 2 });
  const secretFile = writeSecret(SECRET);
  const operatorSecretFile = writeSecret(Buffer.from(OPERATOR_SECRET));
  for (const id of ['a', 'b', 'c'] as const)
    nodes[id] = await RelayNode.start({
      nodeId: id,
      redisUrl: redis.url,
      targets: { vm1: `127.0.0.1:${qemu.port}` },
      secretFile,
      leaseMs: LEASE_MS,
      operatorSecretFile,
    });
}, 120_000);

afterAll(async () => {
  for (const b of browsers) b.browser.ws.terminate();
  for (const n of [...Object.values(nodes), ...extra]) await n.stop();
  await qemu?.stop();
  await redis?.stop();
});

function token(): string {
  return mintToken({ secret: SECRET, targetId: 'vm1', ttlSeconds: 120, nowMs: Date.now() });
}

function open(node: RelayNode, t = token()): TokenBrowser {
  const b = new TokenBrowser(node, t);
  browsers.push(b);
  return b;
}

/** Init, ReaderAdd, ATR: the card is in the guest's reader. */
function lend(b: TokenBrowser): Promise<void> {
  return announceCard((msg) => b.request(msg), YUBIKEY_ATR, 'cardlend');
}

describe('three relay processes, one redis-server, real QEMU 7.2', () => {
  let live: TokenBrowser;

  it('a single-use token used on A is refused when replayed on B; a second browser on B too', async () => {
    const t = token();
    live = open(nodes.a, t);
    await lend(live);
    expect((await open(nodes.b, t).closed).code).toBe(RelayClose.TOKEN_USED);
    expect((await open(nodes.b).closed).code).toBe(RelayClose.VM_IN_USE);
    expect((await open(nodes.c).closed).code).toBe(RelayClose.VM_IN_USE);
  }, 30_000);

  it('kill -9 of the node lending: the lease frees within its length, the guest sees the card removed, C lends again', async () => {
    const mark = qemu.output.length;
    await nodes.a.kill9();
    const killedAt = Date.now();
    let next: TokenBrowser | undefined;
    for (;;) {
      const b = open(nodes.c);
      const opened = await Promise.race([
        b.browser.opened.then(() => true),
        b.closed.then(() => false),
      ]);
      // An admitted session stays open; a refused one is closed with 4009 at once.
      const first = await Promise.race([
        b.closed.then((c) => c.code),
        new Promise<number>((r) => setTimeout(() => r(0), 300)),
      ]);
      if (opened && first === 0) {
        next = b;
        break;
      }
      expect(first).toBe(RelayClose.VM_IN_USE);
      expect(Date.now() - killedAt).toBeLessThan(LEASE_MS + 3000);
    }
    const freedAfterMs = Date.now() - killedAt;
    expect(freedAfterMs).toBeLessThan(LEASE_MS + 3000);
    // The stale card went first (the takeover's CardRemove: QEMU detaches the card from the
    // guest's CCID reader), then the new session's ATR inserts the new one.
    await qemu.waitForLog(/CCID Detach/, 5000, mark);
    await lend(next);
    // QEMU's ack of the ATR reaches the test over the relay, its debug line over a stderr pipe:
    // either can come first.
    await qemu.waitForLog(/VSC_ATR/, 5000, mark);
    const after = qemu.output.slice(mark);
    const at = (re: RegExp) => after.findIndex((l) => re.test(l));
    expect(at(/VSC_CardRemove/)).toBeGreaterThanOrEqual(0);
    expect(at(/VSC_CardRemove/)).toBeLessThan(at(/CCID Detach/));
    expect(at(/CCID Detach/)).toBeLessThan(at(/VSC_ATR/));
    live = next;
  }, 40_000);

  it('the store restarted mid-session: the live session goes on, new ones refused while down and admitted after', async () => {
    await redis.stop();
    const refused = await open(nodes.b).closed;
    expect(refused.code).toBe(RelayClose.CLUSTER_UNAVAILABLE);
    expect((await nodes.b.readyz()).status).toBe(503);
    // Longer than a lease with the store down: the session on C still reaches the VM.
    await new Promise((r) => setTimeout(r, LEASE_MS + 500));
    expect(await live.request(clientInit())).toMatchObject({ type: 'Init' });
    await redis.restart();
    const deadline = Date.now() + 15_000;
    while ((await nodes.b.readyz()).status !== 200) {
      expect(Date.now()).toBeLessThan(deadline);
      await new Promise((r) => setTimeout(r, 100));
    }
    // C re-asserted its lease in the empty store: the VM is still C's.
    expect((await open(nodes.b).closed).code).toBe(RelayClose.VM_IN_USE);
    live.browser.ws.close(1000);
    await live.closed;
    const mark = qemu.output.length;
    await qemu.waitForLog(/VSC_CardRemove/, 5000, mark - 5);
    // Released cleanly by C: B admits at once.
    let b: TokenBrowser;
    for (let i = 0; ; i++) {
      b = open(nodes.b);
      const code = await Promise.race([
        b.closed.then((c) => c.code),
        b.browser.opened.then(() => new Promise<number>((r) => setTimeout(() => r(0), 300))),
      ]);
      if (code === 0) break;
      expect(code).toBe(RelayClose.VM_IN_USE); // C still removing the card
      expect(i).toBeLessThan(20);
    }
    await lend(b);
    live = b;
  }, 60_000);

  it('SIGTERM drains one node: its session ends cleanly (card removed in the guest), another node lends at once', async () => {
    const mark = qemu.output.length;
    nodes.b.proc.kill('SIGTERM');
    expect((await live.closed).code).toBe(RelayClose.GOING_AWAY);
    await qemu.waitForLog(/VSC_CardRemove/, 5000, mark);
    expect(await nodes.b.exited).toBe(0);
    // Released, not lapsed: the next node is admitted at once, with no takeover removal.
    const afterDrain = qemu.output.length;
    const next = open(nodes.c);
    await lend(next);
    expect(qemu.output.slice(afterDrain).some((l) => /VSC_CardRemove/.test(l))).toBe(false);
    live = next;
  }, 30_000);

  it('the operator API on A lists the session lent through C and ends it: the guest sees the card removed', async () => {
    const a = await RelayNode.start({
      nodeId: 'a2',
      redisUrl: redis.url,
      targets: { vm1: `127.0.0.1:${qemu.port}` },
      secretFile: writeSecret(SECRET),
      leaseMs: LEASE_MS,
      operatorSecretFile: writeSecret(Buffer.from(OPERATOR_SECRET)),
    });
    extra.push(a);
    let sessions: { node: string; sessionId: number; target: string; apduCount: number }[] = [];
    for (let i = 0; i < 50 && sessions.length === 0; i++) {
      const listed = await a.operator('GET', '/v1/sessions', OPERATOR_SECRET);
      sessions = (listed.json as { sessions: typeof sessions }).sessions;
      if (sessions.length === 0) await new Promise((r) => setTimeout(r, 100));
    }
    expect(sessions).toMatchObject([{ node: 'c', target: 'vm1' }]);
    const mark = qemu.output.length;
    const ended = await a.operator(
      'DELETE',
      `/v1/sessions/c/${sessions[0]?.sessionId}`,
      OPERATOR_SECRET,
    );
    expect(ended.status).toBe(202);
    expect((await live.closed).code).toBe(RelayClose.ENDED_BY_OPERATOR);
    await qemu.waitForLog(/VSC_CardRemove/, 5000, mark);
    await qemu.waitForLog(/CCID Detach/, 5000, mark);
  }, 40_000);
});
