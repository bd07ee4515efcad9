import { RelayClose, RELAY_SUBPROTOCOL } from '@cardlend/vscard';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import type { ServerEvent } from '../src/server.ts';
import { GUEST_ANSWER_GRACE_MS } from '../src/session/relay-session.ts';
import {
  Browser,
  FakeVmHost,
  HeldTimers,
  type HostConnection,
  msg,
  sleep,
  startTestRelay,
  until,
  wsUrl,
} from './helpers.ts';
import { fakeVmRigPerTest } from './relay-rig.ts';

const INIT = msg(1, 0, '56534344 00000002 00000000');
const READER_ADD = msg(3, 0);
const ATR = msg(5, 0, '3b7a18000073667465206364313434');
const CARD_REMOVE = msg(6, 0);
const READER_REMOVE = msg(4, 0);
const GUEST_APDU = (n: number) => msg(7, 0, `00a40400 02 ${n.toString(16).padStart(4, '0')}`);

const rig = fakeVmRigPerTest({}, () => ({}));
const { open: openBrowser } = rig;

/** Opens a browser and waits until its session reaches the VM (Init ↔ Init). */
async function openSession(): Promise<{ b: Browser; conn: HostConnection }> {
  const b = await openBrowser();
  const conn = await rig.vm.nextConnection(rig.vm.connections.length);
  b.send(INIT);
  await b.frame(0);
  await conn.waitFor(() => conn.messages.length === 1);
  conn.clear();
  b.frames.length = 0;
  return { b, conn };
}

/**
 * Two requests answered by the relay's own event loop: bytes already in its sockets' kernel
 * buffers before this call have been offered to it by the time this resolves.
 */
async function eventLoopBarrier(): Promise<void> {
  for (let i = 0; i < 2; i++)
    await (await fetch(`http://127.0.0.1:${rig.relay.address.port}/healthz`)).text();
}

describe('handshake', () => {
  it('selects the cardlend subprotocol and declines permessage-deflate', async () => {
    const b = new Browser(wsUrl(rig.relay), [RELAY_SUBPROTOCOL, 'other'], {
      perMessageDeflate: true,
    });
    rig.browsers.push(b);
    await b.opened;
    expect(b.ws.protocol).toBe(RELAY_SUBPROTOCOL);
    expect(b.ws.extensions).toBe('');
  });

  it('refuses an upgrade without the subprotocol (400) and on another path (404)', async () => {
    const noProto = new Browser(wsUrl(rig.relay), []);
    await expect(noProto.opened).rejects.toThrow(/HTTP 400/);
    const wrong = new Browser(wsUrl(rig.relay), ['something.else']);
    await expect(wrong.opened).rejects.toThrow(/HTTP 400/);
    const path = new Browser(`ws://127.0.0.1:${rig.relay.address.port}/other`);
    await expect(path.opened).rejects.toThrow(/HTTP 404/);
    expect(rig.vm.connections).toHaveLength(0);
  });

  it('opens one TCP connection per session with TCP_NODELAY to the configured target', async () => {
    const b = await openBrowser();
    const conn = await rig.vm.nextConnection(0);
    b.send(INIT);
    const reply = await b.frame(0);
    expect(reply.toString('hex')).toBe('00000001ffffffff0000000c565343440000000200000000');
    expect(conn.messages[0]?.bytes.equals(INIT)).toBe(true);
    expect(rig.vm.connections).toHaveLength(1);
  });
});

describe('framing', () => {
  it('reframes the VM stream: coalesced and byte-by-byte split messages → one frame each', async () => {
    const b = await openBrowser();
    const conn = await rig.vm.nextConnection(0);
    const a = GUEST_APDU(1);
    const c = GUEST_APDU(2);
    const d = msg(2, 0, '00000000');
    conn.socket.write(Buffer.concat([a, c, d]));
    const e = GUEST_APDU(3);
    for (const byte of e) {
      conn.socket.write(Buffer.from([byte]));
      await sleep(1);
    }
    expect((await b.frame(0)).equals(a)).toBe(true);
    expect((await b.frame(1)).equals(c)).toBe(true);
    expect((await b.frame(2)).equals(d)).toBe(true);
    expect((await b.frame(3)).equals(e)).toBe(true);
    expect(b.frames.every((f) => f.isBinary)).toBe(true);
    expect(b.frames).toHaveLength(4);
  });

  it('forwards browser messages byte-exact, one write per message', async () => {
    const b = await openBrowser();
    const conn = await rig.vm.nextConnection(0);
    const answer = msg(7, 0, '9000');
    b.send(READER_ADD);
    b.send(ATR);
    b.send(answer);
    await conn.waitFor(() => conn.messages.length === 3);
    expect(conn.received.equals(Buffer.concat([READER_ADD, ATR, answer]))).toBe(true);
  });

  it('passes a maximal (65524-byte payload) message both ways', async () => {
    const b = await openBrowser();
    const conn = await rig.vm.nextConnection(0);
    const big = Buffer.alloc(12 + 65524, 0xab);
    big.writeUInt32BE(7, 0);
    big.writeUInt32BE(0, 4);
    big.writeUInt32BE(65524, 8);
    conn.socket.write(big);
    expect((await b.frame(0)).equals(big)).toBe(true);
    b.send(big);
    await conn.waitFor(() => conn.messages.length === 1);
    expect(conn.messages[0]?.bytes.equals(big)).toBe(true);
  });
});

describe('validation of browser frames', () => {
  const cases: [string, Buffer | string, RegExp][] = [
    ['a text frame', 'hello', /Text frames/],
    ['fewer than 12 bytes', Buffer.from('0000000100000000', 'hex'), /VSCARD_TRUNCATED/],
    [
      'declared length longer than the frame',
      Buffer.concat([msg(7, 0, '9000').subarray(0, 13)]),
      /LENGTH_MISMATCH/,
    ],
    ['two messages in one frame', Buffer.concat([READER_ADD, CARD_REMOVE]), /LENGTH_MISMATCH/],
    [
      'declared length over 65524',
      Buffer.from('00000007000000000000fff5', 'hex'),
      /PAYLOAD_TOO_LARGE/,
    ],
    ['an unknown type (10)', msg(10, 0), /UNKNOWN_TYPE/],
    ['an unknown type (0)', msg(0, 0), /UNKNOWN_TYPE/],
    ['a host-only type (Flush)', msg(8, 0), /UNEXPECTED_TYPE/],
    ['FlushComplete (QEMU rejects it)', msg(9, 0), /UNEXPECTED_TYPE/],
  ];
  it.each(cases)(
    'refuses %s with BAD_FRAME and nothing of it reaches the VM',
    async (_name, frame, reason) => {
      const b = await openBrowser();
      const conn = await rig.vm.nextConnection(0);
      b.send(READER_ADD);
      await b.frame(0);
      b.send(frame, typeof frame !== 'string');
      b.send(ATR); // after the bad frame: must not be forwarded either
      const closed = await b.closed;
      expect(closed.code).toBe(RelayClose.BAD_FRAME);
      expect(closed.reason).toMatch(reason);
      await conn.waitFor(() => conn.isClosed, 3000, 'TCP close');
      // The VM saw the good message, then only the cleanup.
      expect(conn.messages.map((m) => m.type)).toEqual([3, 6, 4]);
      expect(conn.received.equals(Buffer.concat([READER_ADD, CARD_REMOVE, READER_REMOVE]))).toBe(
        true,
      );
    },
  );

  it('closes with 1009 for a frame larger than one VSCard message', async () => {
    const b = await openBrowser();
    const conn = await rig.vm.nextConnection(0);
    b.send(Buffer.alloc(12 + 65525));
    expect((await b.closed).code).toBe(RelayClose.MESSAGE_TOO_BIG);
    await conn.waitFor(() => conn.isClosed, 3000, 'TCP close');
    expect(conn.messages.map((m) => m.type)).toEqual([6, 4]);
  });
});

describe('one browser per VM', () => {
  it('refuses a second session at once with VM_IN_USE; the first keeps working', async () => {
    const first = await openBrowser();
    await rig.vm.nextConnection(0);
    const second = await openBrowser();
    const closed = await second.closed;
    expect(closed.code).toBe(RelayClose.VM_IN_USE);
    expect(closed.reason).toMatch(/Another browser/);
    expect(rig.vm.connections).toHaveLength(1);
    first.send(INIT);
    expect((await first.frame(0)).readUInt32BE(0)).toBe(1);
    expect(
      rig.events.some((e) => e.kind === 'refused' && e.closeCode === RelayClose.VM_IN_USE),
    ).toBe(true);
  });

  it('lets a new session in after the previous one ended', async () => {
    const first = await openBrowser();
    const c0 = await rig.vm.nextConnection(0);
    first.ws.close(1000);
    await first.closed;
    const second = await openBrowser();
    const c1 = await rig.vm.nextConnection(1);
    await c0.waitFor(() => c0.isClosed, 3000, 'first TCP closed');
    second.send(INIT);
    expect((await second.frame(0)).readUInt32BE(0)).toBe(1);
    expect(c1.messages[0]?.type).toBe(1);
  });
});

describe('cleanup when the browser goes away', () => {
  /** Restarts the relay with the guest-answer grace held until the test releases it. */
  async function holdGrace(): Promise<HeldTimers> {
    const timers = new HeldTimers(GUEST_ANSWER_GRACE_MS);
    await rig.startRelay(rig.vm.port, { cleanupAckTimeoutMs: 1000 }, { sessionTimers: timers });
    return timers;
  }

  /** A page lending (reader and card acknowledged) with `n` guest commands sent to it. */
  async function lendWithCommands(n: number) {
    const grace = await holdGrace();
    const b = await openBrowser();
    const conn = await rig.vm.nextConnection(0);
    b.send(READER_ADD);
    b.send(ATR);
    await b.frame(1);
    conn.socket.write(Buffer.concat(Array.from({ length: n }, (_, i) => GUEST_APDU(i + 1))));
    await b.frame(1 + n);
    return { grace, b, conn };
  }

  async function sessionEnd(): Promise<ServerEvent> {
    await until(() => rig.events.some((e) => e.kind === 'session-end'), 3000, 'session end');
    return rig.events.find((e) => e.kind === 'session-end') as ServerEvent;
  }

  for (const how of ['close', 'terminate'] as const) {
    it(`answers outstanding guest commands, then CardRemove, ReaderRemove, FIN (browser ${how})`, async () => {
      const { grace, b, conn } = await lendWithCommands(3);
      b.send(msg(7, 0, '9000')); // answers the first
      await conn.waitFor(() => conn.messages.length === 3);
      const before = conn.messages.length;
      if (how === 'close') b.ws.close(1000);
      else b.ws.terminate();
      // The Errors first; CardRemove only after the guest's grace to read them (QEMU's
      // CardRemove clears answers the guest has not fetched yet): only the grace timer
      // sends it, and it is held.
      await conn.waitFor(() => conn.messages.length >= before + 2, 3000, 'the Errors');
      expect(grace.held.size).toBe(1);
      expect(rig.relay.sessions.get('default')?.phase).toBe('cleanup');
      expect(conn.messages.length).toBe(before + 2);
      grace.release();
      await conn.waitFor(() => conn.isEnded, 3000, 'FIN');
      const tail = conn.messages.slice(before);
      // Error×2 with code 1 little-endian (§2.5), then CardRemove, ReaderRemove.
      expect(tail.map((m) => m.type)).toEqual([2, 2, 6, 4]);
      expect(tail[0]?.payload.toString('hex')).toBe('01000000');
      // The FIN came after QEMU's acks (auto-ack host), not before.
      expect(await sessionEnd()).toMatchObject({
        end: { answeredOnCleanup: 2, isCleanupAcked: true },
      });
    });
  }

  it('sends nothing more when QEMU goes away during the grace after the Errors', async () => {
    const { grace, b, conn } = await lendWithCommands(1);
    const before = conn.messages.length;
    b.ws.terminate();
    await conn.waitFor(() => conn.messages.length >= before + 1, 3000, 'the Error');
    expect(grace.held.size).toBe(1);
    conn.socket.destroy(); // QEMU restarted while the guest had its grace
    expect(await sessionEnd()).toMatchObject({
      end: { answeredOnCleanup: 1, isCleanupAcked: false },
    });
    // The session cancelled the grace timer: nothing can follow the Error.
    expect(grace.held.size).toBe(0);
    expect(conn.messages.slice(before).map((m) => m.type)).toEqual([2]);
  });

  it('sends no Error when ATR/CardRemove already flushed the guest commands', async () => {
    const b = await openBrowser();
    const conn = await rig.vm.nextConnection(0);
    conn.socket.write(Buffer.concat([GUEST_APDU(1), GUEST_APDU(2)]));
    await b.frame(1);
    b.send(ATR);
    await b.frame(2);
    const before = conn.messages.length;
    b.ws.terminate();
    await conn.waitFor(() => conn.isEnded, 3000, 'FIN');
    expect(conn.messages.slice(before).map((m) => m.type)).toEqual([6, 4]);
  });

  it('closes TCP within the ack bound when the VM never acks', async () => {
    const silent = await FakeVmHost.start({ isAutoAck: false });
    const { relay: r2 } = await startTestRelay(silent.port, { cleanupAckTimeoutMs: 200 });
    try {
      const b = new Browser(wsUrl(r2));
      await b.opened;
      const conn = await silent.nextConnection(0);
      conn.socket.write(GUEST_APDU(1));
      await b.frame(0);
      const t0 = Date.now();
      b.ws.terminate();
      await conn.waitFor(() => conn.isEnded, 3000, 'FIN');
      expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
      expect(conn.messages.map((m) => m.type)).toEqual([2, 6, 4]);
    } finally {
      await r2.close();
      await silent.close();
    }
  });
});

describe('VM side', () => {
  it('VM closes → VM_CLOSED with a reason', async () => {
    const { b, conn } = await openSession();
    conn.socket.end();
    const closed = await b.closed;
    expect(closed.code).toBe(RelayClose.VM_CLOSED);
    expect(closed.reason).toMatch(/VM closed/);
  });

  it('VM resets the connection → VM_CLOSED', async () => {
    const { b, conn } = await openSession();
    conn.socket.resetAndDestroy();
    const closed = await b.closed;
    expect(closed.code).toBe(RelayClose.VM_CLOSED);
  });

  it('nobody listening → VM_UNREACHABLE', async () => {
    const port = rig.vm.port;
    await rig.vm.close();
    await rig.startVm({});
    const { relay: r2 } = await startTestRelay(port);
    try {
      const b = new Browser(wsUrl(r2));
      const closed = await b.closed;
      expect(closed.code).toBe(RelayClose.VM_UNREACHABLE);
      expect(closed.reason).toMatch(/ECONNREFUSED/);
    } finally {
      await r2.close();
    }
  });

  it('bytes that are not VSCard → VM_PROTOCOL, and the VM still gets the cleanup', async () => {
    const { b, conn } = await openSession();
    conn.socket.write(Buffer.from('000000070000000000ffffff', 'hex'));
    const closed = await b.closed;
    expect(closed.code).toBe(RelayClose.VM_PROTOCOL);
    expect(closed.reason).toMatch(/PAYLOAD_TOO_LARGE/);
    await conn.waitFor(() => conn.isEnded, 3000, 'FIN');
    expect(conn.messages.map((m) => m.type)).toEqual([6, 4]);
  });
});

describe('backpressure', () => {
  // 1024: one guest command alone exceeds the limit, so the frame that fills the socket must
  // itself carry the send callback that resumes the VM side.
  it.each([{ limit: undefined }, { limit: 1024 }])(
    'a browser that never reads makes the relay stop reading the VM (bounded buffer, limit $limit)',
    async ({ limit }) => {
      if (limit !== undefined) {
        await rig.startRelay(rig.vm.port, { maxBufferedToBrowserBytes: limit });
      }
      const { b, conn } = await openSession();
      const session = rig.relay.sessions.get('default');
      b.ws.pause(); // the browser stops reading its socket
      const guestCommand = msg(7, 0, 'ab'.repeat(32 * 1024));
      const chunk = Buffer.concat([guestCommand, guestCommand]);
      let written = 0;
      // Write until the relay pauses its VM socket (64 MiB without a pause would be a failure).
      while (written < 64 * 1024 * 1024 && session?.isVmPaused !== true) {
        written += chunk.length;
        if (!conn.socket.write(chunk))
          await Promise.race([new Promise((r) => conn.socket.once('drain', r)), sleep(50)]);
      }
      expect(session?.isVmPaused).toBe(true);
      expect(written).toBeLessThan(64 * 1024 * 1024);
      // While paused the relay reads nothing more from the VM, and its queue stays bounded:
      // the threshold plus at most one socket read of messages.
      const forwarded = session?.stats.messagesToBrowser;
      for (let i = 0; i < 20; i++) conn.socket.write(chunk);
      // Either the bytes are stuck in the VM's own buffer (the relay reads nothing), or they
      // reached the relay's kernel buffer: then let its event loop see them, by a request.
      if (conn.socket.writableLength === 0) await eventLoopBarrier();
      expect(session?.stats.messagesToBrowser).toBe(forwarded);
      expect(session?.bufferedToBrowserBytes).toBeLessThan(256 * 1024 + 128 * 1024);
      // Reading again drains everything, in order.
      b.ws.resume();
      const total = written / guestCommand.length + 20 * 2;
      await until(() => b.frames.length === total, 15_000, 'all frames');
      expect(conn.socket.writableLength).toBe(0);
      expect(b.frames.every((f) => f.data.equals(guestCommand))).toBe(true);
      expect(session?.isVmPaused).toBe(false);
    },
  );

  it('a VM that never reads makes the relay stop reading the browser', async () => {
    const { b, conn } = await openSession();
    const session = rig.relay.sessions.get('default');
    conn.socket.pause(); // the VM stops reading
    const answer = msg(7, 0, 'aa'.repeat(60000) + '9000');
    let sent = 0;
    while (session?.isBrowserPaused !== true && sent < 2000) {
      b.send(answer);
      sent++;
      if (b.ws.bufferedAmount > 1024 * 1024) await sleep(20);
    }
    expect(session?.isBrowserPaused).toBe(true);
    expect(sent).toBeLessThan(2000);
    // More frames wait outside the relay: it reads nothing while paused, and its queue is bounded.
    const accepted = session?.stats.messagesFromBrowser;
    for (let i = 0; i < 20; i++) b.send(answer);
    // Either they are stuck in the browser's own buffer (the relay reads nothing), or they
    // reached the relay's kernel buffer: then let its event loop see them, by a request.
    if (b.ws.bufferedAmount === 0) await eventLoopBarrier();
    expect(session?.stats.messagesFromBrowser).toBe(accepted);
    expect(session?.bufferedToVmBytes).toBeLessThan(512 * 1024);
    conn.socket.resume();
    await until(() => conn.messages.length === sent + 20, 15_000, 'every answer at the VM');
    expect(session?.isBrowserPaused).toBe(false);
    expect(conn.messages.every((m) => m.bytes.equals(answer))).toBe(true);
  });
});

describe('shutdown', () => {
  it('close() sends 1001 to the browser and cleans up the VM', async () => {
    const { b, conn } = await openSession();
    const closing = rig.closeRelay();
    const closed = await b.closed;
    expect(closed.code).toBe(RelayClose.GOING_AWAY);
    await closing;
    await conn.waitFor(() => conn.isEnded, 3000, 'FIN');
    expect(conn.messages.map((m) => m.type)).toEqual([6, 4]);
  });
});

it('uses WebSocket from ws (sanity)', () => {
  expect(typeof WebSocket).toBe('function');
});
