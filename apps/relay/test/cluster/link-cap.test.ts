/**
 * The link listener's cap (cluster/link.ts): connections that have not passed their signed
 * hello are capped (here 2 instead of LINK_MAX_WAITING), the next is closed on accept and
 * reported (the later refusals of a burst in one summary line); links past the hello do not
 * count, however many there are; a peer trickling its hello is cut off when its
 * LINK_HELLO_TIMEOUT_MS deadline fires (held by the test). One LinkServer on loopback, plain
 * TCP, VMs played by an echo server.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { linkKey } from '../../src/cluster/link-auth.ts';
import { LINK_REFUSAL_WINDOW_MS } from '../../src/cluster/link-refusals.ts';
import { dialLink, LINK_HELLO_TIMEOUT_MS, LinkServer } from '../../src/cluster/link.ts';
import { HeldTimers, until } from '../helpers.ts';

const KEY = linkKey(new Uint8Array(32).fill(9));
const CAP = 2;

const opened: { close(): unknown }[] = [];
const sockets: net.Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const c of opened.splice(0).reverse()) await c.close();
});

/** An echo server standing in for dialled-in VMs. */
async function echoVms(): Promise<number> {
  const server = net.createServer((s) => {
    sockets.push(s);
    s.on('error', () => {});
    s.pipe(s);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  opened.push({ close: () => new Promise((resolve) => server.close(resolve)) });
  return (server.address() as net.AddressInfo).port;
}

/** `heldMs`: the timers the test fires itself (default the cap's summary window, 10 s). */
async function linkServer(
  heldMs = LINK_REFUSAL_WINDOW_MS,
): Promise<{ link: LinkServer; events: string[]; window: HeldTimers }> {
  const vmPort = await echoVms();
  const events: string[] = [];
  const window = new HeldTimers(heldMs);
  const link = new LinkServer({
    listen: { host: '127.0.0.1', port: 0 },
    key: KEY,
    take: () => {
      const socket = net.connect({ host: '127.0.0.1', port: vmPort });
      sockets.push(socket);
      return Promise.resolve({ socket, pending: undefined });
    },
    isDialIn: () => true,
    resume: (_h, socket) => socket.destroy(),
    now: Date.now,
    onEvent: (m) => events.push(m),
    maxWaiting: CAP,
    timers: window,
  });
  await link.start();
  opened.push(link);
  return { link, events, window };
}

/** A TCP connection to the link that sends nothing. */
async function silent(port: number): Promise<net.Socket> {
  const s = net.connect({ host: '127.0.0.1', port });
  sockets.push(s);
  s.on('error', () => {});
  await new Promise<void>((resolve) => s.once('connect', () => resolve()));
  return s;
}

const closed = (s: net.Socket) => new Promise<void>((resolve) => s.once('close', () => resolve()));

/** A link through the real hello; checks it carries bytes both ways (to the echo VM). */
async function lend(port: number, n: number): Promise<net.Socket> {
  const { socket } = await dialLink({
    advertise: `127.0.0.1:${port}`,
    key: KEY,
    targetId: `vm${n}`,
    nodeId: 'b',
    now: Date.now,
    timeoutMs: 5000,
    signal: new AbortController().signal,
    tls: undefined,
  });
  sockets.push(socket);
  const echoed = new Promise<Buffer>((resolve) => socket.once('data', resolve));
  socket.write(`ping ${n}`);
  expect((await echoed).toString()).toBe(`ping ${n}`);
  return socket;
}

const REFUSED = new RegExp(
  `^link refused: \\S+: too many connections not yet past their hello \\(at most ${CAP}\\)$`,
);

const SUMMARY = /^link refused: \d+ more in the last \d+ s: too many connections/;

describe('the link listener cap on connections before their hello', () => {
  it('closes a connection beyond the cap on accept and reports it; a freed place is taken again', async () => {
    const { link, events } = await linkServer();
    const flood = [await silent(link.port), await silent(link.port)];
    await until(() => link.waiting === CAP, 3000, 'the flood accepted');
    const extra = await silent(link.port);
    await closed(extra); // long before any of the 5 s limits
    expect(events.filter((e) => REFUSED.test(e))).toHaveLength(1);
    expect(flood.map((s) => s.destroyed)).toEqual([false, false]);
    // The flood holds the cap: a real link is refused too (the trade-off the README states).
    await expect(lend(link.port, 0)).rejects.toThrow(/closed the link/);
    (flood[0] as net.Socket).destroy();
    await until(() => link.waiting === CAP - 1, 3000, 'one flood connection gone');
    await lend(link.port, 1);
    expect(link.waiting).toBe(CAP - 1);
  });

  it('links past their hello do not count: more of them than the cap, and the cap still holds', async () => {
    const { link, events, window } = await linkServer();
    const links = [];
    for (let n = 0; n < CAP * 3; n++) links.push(await lend(link.port, n));
    expect(link.waiting).toBe(0);
    const waiting = [await silent(link.port), await silent(link.port)];
    await until(() => link.waiting === CAP, 3000, 'two waiting');
    await closed(await silent(link.port));
    expect(events.filter((e) => REFUSED.test(e))).toHaveLength(1);
    // The links still carry bytes; once they close, their room goes with them.
    const again = links[0] as net.Socket;
    const echoed = new Promise<Buffer>((resolve) => again.once('data', resolve));
    again.write('still there');
    expect((await echoed).toString()).toBe('still there');
    for (const l of links) l.destroy();
    for (const w of waiting) w.destroy();
    await until(() => link.waiting === 0, 3000, 'all gone');
    const back = [await silent(link.port), await silent(link.port)];
    await until(() => link.waiting === CAP, 3000, 'two waiting again');
    await closed(await silent(link.port));
    // The second refusal fell into the first one's window: one summary line when it ends.
    expect(events.filter((e) => REFUSED.test(e))).toHaveLength(1);
    window.release();
    expect(events.filter((e) => SUMMARY.test(e))).toEqual([
      `link refused: 1 more in the last 10 s: too many connections not yet past their hello (at most ${CAP})`,
    ]);
    expect(back.map((s) => s.destroyed)).toEqual([false, false]);
  });

  it(`ends a peer trickling its hello when its ${LINK_HELLO_TIMEOUT_MS} ms deadline fires, however often it sends`, async () => {
    const { link, window: deadline } = await linkServer(LINK_HELLO_TIMEOUT_MS);
    const s = await silent(link.port);
    await until(() => deadline.held.size === 1, 3000, 'its hello deadline armed');
    const armed = [...deadline.held.keys()];
    // Bytes of a hello that never ends: each reaches the node, none moves the deadline.
    for (let n = 0; n < 3; n++) {
      s.write('{');
      (await lend(link.port, n)).destroy(); // time for the byte to arrive: a link's round trip
    }
    await until(() => deadline.held.size === 1, 3000, 'the links gone, their deadlines cleared');
    expect([...deadline.held.keys()]).toEqual(armed); // the same deadline: never re-armed
    expect(s.destroyed).toBe(false);
    deadline.release();
    await closed(s);
    await until(() => link.waiting === 0, 3000, 'its place freed');
  });

  it('a silent peer waits for its deadline, then is cut off; a passed hello clears it', async () => {
    const { link, window: deadline } = await linkServer(LINK_HELLO_TIMEOUT_MS);
    const s = await silent(link.port);
    const passed = await lend(link.port, 0);
    // The silent peer's deadline is held; the link past its hello holds none.
    await until(() => deadline.held.size === 1, 3000, 'one deadline held');
    expect(s.destroyed).toBe(false);
    deadline.release();
    await closed(s);
    const echoed = new Promise<Buffer>((resolve) => passed.once('data', resolve));
    passed.write('still there');
    expect((await echoed).toString()).toBe('still there');
  });
});
