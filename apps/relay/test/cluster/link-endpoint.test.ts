/**
 * The WebSocket-like endpoint a resumed session uses when its browser reached another node:
 * messages keep their kind, a close keeps its code and reason, pings and pongs cross, the link
 * ending without a close frame is a drop (1006), and garbage on the link ends it without
 * throwing. Over a real loopback socket pair.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { LinkEndpoint } from '../../src/cluster/link-endpoint.ts';
import {
  encodeBeatFrame,
  encodeCloseFrame,
  encodeMessageFrame,
  LinkFrameDecoder,
  type LinkFrame,
} from '../../src/cluster/link-frames.ts';
import { until } from '../helpers.ts';

const sockets: net.Socket[] = [];
const servers: net.Server[] = [];

afterEach(() => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of servers.splice(0)) s.close();
});

/** Two connected loopback sockets: the endpoint's and the peer's (the browser's node). */
async function pair(): Promise<{ mine: net.Socket; peer: net.Socket; frames: LinkFrame[] }> {
  const server = net.createServer();
  servers.push(server);
  await new Promise<void>((r) => server.listen({ host: '127.0.0.1', port: 0 }, r));
  const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
  const peer = net.connect({ host: '127.0.0.1', port: (server.address() as net.AddressInfo).port });
  const mine = await accepted;
  mine.pause();
  sockets.push(mine, peer);
  const frames: LinkFrame[] = [];
  const d = new LinkFrameDecoder();
  peer.on('data', (c: Buffer) => frames.push(...d.push(c)));
  peer.on('error', () => {});
  return { mine, peer, frames };
}

/** The endpoint's events, in order. */
function record(e: LinkEndpoint): unknown[] {
  const events: unknown[] = [];
  e.on('message', (data: Buffer, isBinary: boolean) =>
    events.push(['message', data.toString('hex'), isBinary]),
  );
  e.on('close', (code: number, reason: Buffer) => events.push(['close', code, reason.toString()]));
  e.on('pong', () => events.push(['pong']));
  return events;
}

describe('link endpoint', () => {
  it('passes messages both ways with their kind, and the peer sent before resume()', async () => {
    const { mine, peer, frames } = await pair();
    const head = encodeMessageFrame(Uint8Array.of(1, 2), true);
    const e = new LinkEndpoint(mine, 'cardlend.vscard.v1', head);
    const events = record(e);
    peer.write(encodeMessageFrame('{"a":1}', false));
    e.resume();
    await until(() => events.length === 2);
    expect(events).toEqual([
      ['message', '0102', true],
      ['message', Buffer.from('{"a":1}').toString('hex'), false],
    ]);
    let sent = false;
    e.send(Buffer.of(9), { binary: true }, () => (sent = true));
    e.send('{"type":"resume"}');
    await until(() => frames.length === 2 && sent);
    expect(frames.map((f) => f.kind)).toEqual(['binary', 'text']);
    expect(e.protocol).toBe('cardlend.vscard.v1');
  });

  it('a close goes out with its code; the answer closes the endpoint with it', async () => {
    const { mine, peer, frames } = await pair();
    const e = new LinkEndpoint(mine, 'p', Buffer.alloc(0));
    const events = record(e);
    e.resume();
    e.close(4011, 'The VM closed its side.');
    expect(e.readyState).toBe(e.CLOSING);
    await until(() => frames.length === 1);
    expect(frames[0]).toEqual({ kind: 'close', code: 4011, reason: 'The VM closed its side.' });
    peer.write(encodeCloseFrame(4011, 'The VM closed its side.'));
    await until(() => events.length === 1);
    expect(events).toEqual([['close', 4011, 'The VM closed its side.']]);
    expect(e.readyState).toBe(e.CLOSED);
  });

  it("the peer's close is answered and reported with the browser's code", async () => {
    const { mine, peer, frames } = await pair();
    const e = new LinkEndpoint(mine, 'p', Buffer.alloc(0));
    const events = record(e);
    e.resume();
    peer.write(encodeCloseFrame(1000, 'Stop'));
    await until(() => events.length === 1 && frames.length === 1);
    expect(events).toEqual([['close', 1000, 'Stop']]);
    expect(frames[0]).toEqual({ kind: 'close', code: 1000, reason: 'Stop' });
  });

  it('pings go out, pongs come back as events, the peer gets pongs to its pings', async () => {
    const { mine, peer, frames } = await pair();
    const e = new LinkEndpoint(mine, 'p', Buffer.alloc(0));
    const events = record(e);
    e.resume();
    e.ping();
    peer.write(Buffer.concat([encodeBeatFrame('pong'), encodeBeatFrame('ping')]));
    await until(() => events.length === 1 && frames.length === 2);
    expect(events).toEqual([['pong']]);
    expect(frames.map((f) => f.kind)).toEqual(['ping', 'pong']);
  });

  it('the link ending without a close frame is a drop (1006); sends after it fail softly', async () => {
    const { mine, peer } = await pair();
    const e = new LinkEndpoint(mine, 'p', Buffer.alloc(0));
    const events = record(e);
    e.resume();
    peer.destroy();
    await until(() => events.length === 1);
    expect(events).toEqual([['close', 1006, '']]);
    const failed = await new Promise<unknown>((r) => e.send(Buffer.of(1), r));
    expect(failed).toBeInstanceOf(Error);
  });

  it.each([
    ['an unknown kind', Buffer.from('0000000009', 'hex')],
    ['an oversized frame', Buffer.from('7fffffff01', 'hex')],
    ['text garbage', Buffer.from('GET / HTTP/1.1\r\n\r\n')],
  ])('garbage on the link (%s) ends it as a drop, without throwing', async (_what, bytes) => {
    const { mine, peer } = await pair();
    const e = new LinkEndpoint(mine, 'p', Buffer.alloc(0));
    const events = record(e);
    const errors: unknown[] = [];
    e.on('error', (err: Error) => errors.push(err.name));
    e.resume();
    peer.write(bytes);
    await until(() => events.length === 1);
    expect(events).toEqual([['close', 1006, '']]);
    expect(errors).toEqual(['LinkFrameError']);
  });

  it('garbage with no error listener does not throw either', async () => {
    const { mine, peer } = await pair();
    const e = new LinkEndpoint(mine, 'p', Buffer.alloc(0));
    const events = record(e);
    e.resume();
    peer.write(Buffer.from('0000000009', 'hex'));
    await until(() => events.length === 1);
    expect(events).toEqual([['close', 1006, '']]);
  });
});
