/**
 * How the link listener refuses (cluster/link-refusals.ts): a link refused after its signed
 * hello passed ('not a dial-in target', 'no VM: …') is destroyed when its peer keeps it open
 * past LINK_REFUSAL_LINGER_MS, and the cap's refusals of a burst make one line plus one
 * summary, with no timer left after close(); so do the other refusals before a hello, one
 * tally per reason; a refused TLS handshake names its peer's address even when Node dropped it
 * first; every refusal is counted by kind in cardlend_relay_cluster_link_refusals_total (scraped
 * from the relay's metrics). Timers are held by the test (HeldTimers), so the bounds are proven
 * without waiting for them; sockets are real, on loopback.
 */
import net from 'node:net';
import tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { linkKey, MAX_HELLO_BYTES, signHello } from '../../src/cluster/link-auth.ts';
import { loadLinkTlsFiles } from '../../src/cluster/link-tls.ts';
import {
  CoalescedRefusals,
  LINK_REFUSAL_LINGER_MS,
  LINK_REFUSAL_WINDOW_MS,
  LinkRefusalLog,
  RefusalTally,
  type LinkRefusalKind,
} from '../../src/cluster/link-refusals.ts';
import { LinkServer } from '../../src/cluster/link.ts';
import { createRelayMetrics, type RelayMetrics } from '../../src/ops/metrics.ts';
import { HeldTimers, until } from '../helpers.ts';
import { linkFiles, makeLinkPki } from './link-tls-rig.ts';

const KEY = linkKey(new Uint8Array(32).fill(4));

const opened: LinkServer[] = [];
const sockets: net.Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const l of opened.splice(0)) await l.close();
});

interface Refusing {
  readonly link: LinkServer;
  readonly events: string[];
  readonly timers: HeldTimers;
  readonly metrics: RelayMetrics;
}

/**
 * A plain link listener whose targets are `isDialIn`, with no VM to take; `held` timers held;
 * its refusals counted in `metrics` (as cluster/wiring.ts does).
 */
async function refusingLink(
  isDialIn: boolean | ((target: string) => boolean),
  held: number,
  maxWaiting = 4,
): Promise<Refusing> {
  const events: string[] = [];
  const timers = new HeldTimers(held);
  const metrics = createRelayMetrics({ hasProcessMetrics: false });
  const link = new LinkServer({
    listen: { host: '127.0.0.1', port: 0 },
    key: KEY,
    take: () => Promise.reject(new Error('the VM did not connect')),
    isDialIn: typeof isDialIn === 'function' ? isDialIn : () => isDialIn,
    resume: (_h, socket) => socket.destroy(),
    now: Date.now,
    onEvent: (m) => events.push(m),
    maxWaiting,
    timers,
    onRefused: (kind) => metrics.linkRefused(kind),
  });
  await link.start();
  opened.push(link);
  return { link, events, timers, metrics };
}

/** The link refusal counters in the metrics text, by reason. */
async function linkRefusalCounts(metrics: RelayMetrics): Promise<Record<string, number>> {
  const text = await metrics.registry.metrics();
  return Object.fromEntries(
    text.split('\n').flatMap((line) => {
      const m = /^cardlend_relay_cluster_link_refusals_total\{reason="([a-z-]+)"\} (\d+)$/.exec(
        line,
      );
      return m ? [[m[1] as string, Number(m[2])]] : [];
    }),
  );
}

/** Sends `bytes` on a new connection and resolves with what came back once it closed. */
async function answerTo(port: number, bytes: Buffer | string): Promise<string> {
  const s = net.connect({ host: '127.0.0.1', port });
  sockets.push(s);
  s.on('error', () => {});
  let got = '';
  s.on('data', (c: Buffer) => (got += c.toString('utf8')));
  s.once('connect', () => s.write(bytes));
  await new Promise<void>((resolve) => s.once('close', () => resolve()));
  return got;
}

/**
 * A peer that sends a valid hello for `target` and never closes its side (half-open allowed):
 * its socket and the first line it was answered.
 */
async function stubbornPeer(port: number, target: string): Promise<[net.Socket, string]> {
  const s = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
  sockets.push(s);
  s.on('error', () => {});
  let got = '';
  s.on('data', (c: Buffer) => (got += c.toString('utf8')));
  await new Promise<void>((resolve) => s.once('connect', () => resolve()));
  s.write(signHello(KEY, target, 'b', Date.now()));
  await until(() => got.includes('\n'), 3000, 'the answer');
  return [s, got.slice(0, got.indexOf('\n'))];
}

/** Whether the peer learns its link is gone: a write after the node destroyed it is reset. */
async function cutOff(s: net.Socket): Promise<void> {
  const closed = new Promise<void>((resolve) => s.once('close', () => resolve()));
  const poke = setInterval(() => s.write('x'), 20);
  await closed;
  clearInterval(poke);
}

describe.each([
  ['not a dial-in target', false, 'ERR not a dial-in target'],
  ['no VM', true, 'ERR no VM: the VM did not connect'],
])('a link refused after its hello (%s) whose peer never closes', (_name, isDialIn, answer) => {
  it(`is destroyed when LINK_REFUSAL_LINGER_MS (${LINK_REFUSAL_LINGER_MS} ms) ends`, async () => {
    const { link, timers } = await refusingLink(isDialIn, LINK_REFUSAL_LINGER_MS);
    const [peer, line] = await stubbornPeer(link.port, 'vm-a');
    expect(line).toBe(answer);
    await until(() => timers.held.size === 1, 3000, 'the linger armed');
    expect(link.connectionCount).toBe(1); // the peer keeps it open: only the linger ends it
    expect(link.waiting).toBe(0); // past its hello: the hello deadline no longer applies
    timers.release();
    await until(() => link.connectionCount === 0, 3000, 'the refused link destroyed');
    await cutOff(peer);
  });

  it('a peer that closes on the answer clears the linger', async () => {
    const { link, timers } = await refusingLink(isDialIn, LINK_REFUSAL_LINGER_MS);
    const [peer] = await stubbornPeer(link.port, 'vm-a');
    await until(() => timers.held.size === 1, 3000, 'the linger armed');
    peer.end();
    await until(() => link.connectionCount === 0, 3000, 'closed by the peer');
    expect(timers.held.size).toBe(0);
  });
});

describe('the cap refusals of a burst', () => {
  it('logs the first at once, the rest in one summary at close(), and leaves no timer', async () => {
    const { link, events, timers } = await refusingLink(true, LINK_REFUSAL_WINDOW_MS, 1);
    const waiting = net.connect({ host: '127.0.0.1', port: link.port });
    sockets.push(waiting);
    waiting.on('error', () => {});
    await until(() => link.waiting === 1, 3000, 'one waiting');
    for (let n = 0; n < 3; n++) {
      const extra = net.connect({ host: '127.0.0.1', port: link.port });
      extra.on('error', () => {});
      await new Promise<void>((resolve) => extra.once('close', () => resolve()));
    }
    const refused = () => events.filter((e) => e.includes('too many connections'));
    expect(refused()).toEqual([
      expect.stringMatching(
        /^link refused: 127\.0\.0\.1:\d+: too many connections .*\(at most 1\)$/,
      ),
    ]);
    expect(timers.held.size).toBe(1);
    opened.splice(0);
    await link.close();
    expect(timers.held.size).toBe(0);
    expect(refused()[1]).toBe(
      'link refused: 2 more in the last 10 s: too many connections not yet past their hello (at most 1)',
    );
  });
});

describe('the refusals before a hello, and every kind in the metrics', () => {
  it('logs the first of each reason, sums up the rest per reason, and counts each kind', async () => {
    const { link, events, timers, metrics } = await refusingLink(
      (target) => target !== 'vm-plain',
      LINK_REFUSAL_LINGER_MS,
      1,
    );
    expect(await answerTo(link.port, 'x\n')).toBe('ERR malformed\n');
    expect(await answerTo(link.port, 'y\n')).toBe('ERR malformed\n');
    const long = 'z'.repeat(MAX_HELLO_BYTES + 1);
    expect(await answerTo(link.port, long)).toBe('ERR hello too long\n');
    expect(await answerTo(link.port, Buffer.of(0x16, 3, 1))).toBe('');
    expect((await stubbornPeer(link.port, 'vm-plain'))[1]).toBe('ERR not a dial-in target');
    await until(() => timers.held.size === 1, 3000, 'the linger armed');
    timers.release();
    await until(() => link.connectionCount === 0, 3000, 'the stubborn link cut off');
    const [, noVm] = await stubbornPeer(link.port, 'vm-a');
    expect(noVm).toBe('ERR no VM: the VM did not connect');
    sockets.splice(0).forEach((s) => s.destroy());
    await until(() => link.connectionCount === 0, 3000, 'all closed');
    const waiting = net.connect({ host: '127.0.0.1', port: link.port });
    sockets.push(waiting);
    waiting.on('error', () => {});
    await until(() => link.waiting === 1, 3000, 'one waiting');
    expect(await answerTo(link.port, 'x\n')).toBe(''); // over the cap: closed on accept
    expect(events).toEqual([
      'link refused: malformed',
      'link refused: hello too long',
      expect.stringMatching(
        /^link refused: a node at 127\.0\.0\.1:\d+: it speaks TLS \(cluster\.linkTls is set there, not here\)$/,
      ),
      'link refused: not a dial-in target',
      'link refused: no VM: the VM did not connect',
      expect.stringMatching(
        /^link refused: 127\.0\.0\.1:\d+: too many connections .*\(at most 1\)$/,
      ),
    ]);
    expect(await linkRefusalCounts(metrics)).toEqual({
      'over-cap': 1,
      'hello-refused': 3,
      'tls-handshake': 0,
      'tls-mismatch': 1,
      'not-dial-in': 1,
      'no-vm': 1,
      'linger-expired': 1,
    });
    opened.splice(0);
    await link.close();
    expect(events.slice(6)).toEqual(['link refused: 1 more in the last 10 s: malformed']);
  });
});

describe('LinkRefusalLog', () => {
  it('counts every refusal, sums up a burst per kind and reason, logs the others one each', () => {
    const lines: string[] = [];
    const counted: LinkRefusalKind[] = [];
    const timers = new HeldTimers(LINK_REFUSAL_WINDOW_MS);
    const log = new LinkRefusalLog({
      timers,
      emit: (l) => lines.push(l),
      count: (k) => counted.push(k),
    });
    for (let n = 0; n < 3; n++) log.report('hello-refused', 'link refused: stale', 'stale');
    log.report('hello-refused', 'link refused: bad mac', 'bad mac');
    // Another kind with the same words has a burst of its own.
    log.report('tls-mismatch', 'link refused: a node at A: it speaks TLS', 'stale');
    log.report('not-dial-in', 'link refused: not a dial-in target');
    log.report('not-dial-in', 'link refused: not a dial-in target');
    log.report('linger-expired');
    expect(lines).toEqual([
      'link refused: stale',
      'link refused: bad mac',
      'link refused: a node at A: it speaks TLS',
      'link refused: not a dial-in target',
      'link refused: not a dial-in target',
    ]);
    expect(timers.held.size).toBe(3);
    timers.release();
    expect(lines.slice(5)).toEqual(['link refused: 2 more in the last 10 s: stale']);
    expect(counted).toEqual([
      ...Array<LinkRefusalKind>(4).fill('hello-refused'),
      'tls-mismatch',
      'not-dial-in',
      'not-dial-in',
      'linger-expired',
    ]);
  });
});

describe('a link TLS handshake refused for a stranger certificate', () => {
  it("names the peer's address, which Node no longer knows by then", async () => {
    const pki = await makeLinkPki();
    const events: string[] = [];
    const metrics = createRelayMetrics({ hasProcessMetrics: false });
    const link = new LinkServer({
      listen: { host: '127.0.0.1', port: 0 },
      key: KEY,
      tls: loadLinkTlsFiles(linkFiles(pki.nodeA, pki.ca.cert)),
      take: () => Promise.reject(new Error('no VM')),
      isDialIn: () => true,
      resume: (_h, socket) => socket.destroy(),
      now: Date.now,
      onEvent: (m) => events.push(m),
      onRefused: (kind) => metrics.linkRefused(kind),
    });
    await link.start();
    opened.push(link);
    const stranger = tls.connect({
      host: '127.0.0.1',
      port: link.port,
      ca: pki.ca.cert,
      cert: pki.rogueNode.cert,
      key: pki.rogueNode.key,
      checkServerIdentity: () => undefined,
    });
    sockets.push(stranger);
    stranger.on('error', () => {});
    stranger.on('data', () => {}); // TLS 1.3: the refusal arrives on the first read
    let local = '';
    stranger.once('connect', () => (local = `127.0.0.1:${stranger.localPort}`));
    await until(() => events.length > 0, 3000, 'the refusal');
    expect(local).not.toBe('');
    expect(events).toEqual([
      `link refused: TLS handshake with ${local} failed: its certificate is not one the cluster CA signed (UNABLE_TO_VERIFY_LEAF_SIGNATURE)`,
    ]);
    expect(await linkRefusalCounts(metrics)).toMatchObject({ 'tls-handshake': 1, 'over-cap': 0 });
  });
});

describe('CoalescedRefusals', () => {
  const coalesced = () => {
    const lines: string[] = [];
    const timers = new HeldTimers(LINK_REFUSAL_WINDOW_MS);
    const c = new CoalescedRefusals({
      windowMs: LINK_REFUSAL_WINDOW_MS,
      timers,
      emit: (l) => lines.push(l),
      summary: (more) => `${more} more`,
    });
    return { c, lines, timers };
  };

  it('logs one line per window and a summary when the window ends; a refusal after starts anew', () => {
    const { c, lines, timers } = coalesced();
    c.report('first');
    c.report('second');
    c.report('third');
    expect(lines).toEqual(['first']);
    timers.release();
    expect(lines).toEqual(['first', '2 more']);
    c.report('fourth');
    expect(lines).toEqual(['first', '2 more', 'fourth']);
    expect(timers.held.size).toBe(1);
  });

  it('a window with its first refusal only ends without a summary', () => {
    const { c, lines, timers } = coalesced();
    c.report('alone');
    timers.release();
    expect(lines).toEqual(['alone']);
  });

  it('close() logs the pending count and clears the timer; closing again adds nothing', () => {
    const { c, lines, timers } = coalesced();
    c.report('first');
    c.report('second');
    c.close();
    expect(timers.held.size).toBe(0);
    expect(lines).toEqual(['first', '1 more']);
    c.close();
    expect(lines).toEqual(['first', '1 more']);
  });
});

describe('RefusalTally', () => {
  it('counts the refusals after the first of a window, and starts again after end()', () => {
    const t = new RefusalTally();
    expect(t.isOpen).toBe(false);
    expect([t.note(), t.note(), t.note()]).toEqual(['first', 'counted', 'counted']);
    expect(t.isOpen).toBe(true);
    expect(t.end()).toBe(2);
    expect(t.isOpen).toBe(false);
    expect(t.end()).toBe(0);
    expect(t.note()).toBe('first');
  });
});
