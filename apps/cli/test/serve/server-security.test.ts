/**
 * Security of `cardlend serve` over real WebSockets on loopback (memory readers): foreign and
 * missing origins, DNS-rebinding Host headers, oversized, malformed and binary messages,
 * floods, connection limits, a second page on the same reader; an unapproved page never sees
 * a reader name.
 */
import { describe, expect, it } from 'vitest';
import { HELPER_CLOSE, HELPER_LIMITS } from '@cardlend/helper-protocol';
import { PAGE, RawClient, READER_A, READER_B, fixturePerTest } from './serve-fixture.ts';

const startFixture = fixturePerTest();

describe('cardlend serve: who may connect', () => {
  it('closes a connection without Origin (4403) and says nothing', async () => {
    const fx = await startFixture({ approved: [PAGE] });
    const c = new RawClient(fx.server.port);
    expect(await c.closed).toEqual({
      code: HELPER_CLOSE.ORIGIN_MISSING,
      reason: 'HELPER_ORIGIN_MISSING',
    });
    expect(c.raw).toEqual([]);
  });

  it.each(['null', 'file://', 'chrome-extension://abc', 'https://a.org/x'])(
    'closes Origin %s as missing',
    async (origin) => {
      const fx = await startFixture({ approved: [PAGE] });
      const c = new RawClient(fx.server.port, { origin });
      expect((await c.closed).code).toBe(HELPER_CLOSE.ORIGIN_MISSING);
    },
  );

  it('a foreign origin gets "not approved" to everything and no reader name', async () => {
    const fx = await startFixture({ approved: [PAGE] });
    const c = new RawClient(fx.server.port, { origin: 'https://evil.example.com' });
    expect(await c.next((m) => m.type === 'hello')).toMatchObject({ approved: false });
    for (const body of [
      { type: 'list' },
      { type: 'connect', reader: READER_A },
      { type: 'power-on', reader: READER_A },
      { type: 'transmit', reader: READER_A, apdu: '00a4040000' },
    ])
      expect(await c.request(body)).toMatchObject({
        type: 'error',
        code: 'HELPER_ORIGIN_NOT_APPROVED',
      });
    fx.slots[0]?.remove();
    fx.slots[0]?.insert();
    // a page that is approved sees the list at the same time
    const good = new RawClient(fx.server.port, { origin: PAGE });
    expect(await good.request({ type: 'list' })).toMatchObject({ type: 'ok' });
    const all = c.raw.join('\n');
    expect(all).not.toContain('Secret Reader');
    expect(all).not.toContain('3b8080');
    expect(fx.server.hub.holders().size).toBe(0);
  });

  it('refuses a handshake whose Host is not loopback (DNS rebinding)', async () => {
    const fx = await startFixture({ approved: [PAGE] });
    const c = new RawClient(fx.server.port, { origin: PAGE, host: 'evil.example.com' });
    expect(await c.opened).toBe(false);
    const d = new RawClient(fx.server.port, {
      origin: PAGE,
      host: `localhost:${fx.server.port}`,
    });
    expect(await d.opened).toBe(true);
  });

  it('refuses another path (404) and a client without the subprotocol (4426)', async () => {
    const fx = await startFixture({ approved: [PAGE] });
    expect(await new RawClient(fx.server.port, { origin: PAGE, path: '/' }).opened).toBe(false);
    const c = new RawClient(fx.server.port, { origin: PAGE, protocols: [] });
    expect(await c.closed).toEqual({ code: HELPER_CLOSE.VERSION, reason: 'HELPER_VERSION' });
    const other = new RawClient(fx.server.port, { origin: PAGE, protocols: ['other'] });
    expect(await other.opened).toBe(false);
  });

  it('closes the connection over the limit with 4429', async () => {
    const fx = await startFixture({ approved: [PAGE] });
    const clients = Array.from(
      { length: HELPER_LIMITS.maxConnections },
      () => new RawClient(fx.server.port, { origin: 'https://evil.example.com' }),
    );
    await Promise.all(clients.map((c) => c.next((m) => m.type === 'hello')));
    const extra = new RawClient(fx.server.port, { origin: PAGE });
    expect(await extra.closed).toEqual({
      code: HELPER_CLOSE.TOO_MANY_CONNECTIONS,
      reason: 'HELPER_TOO_MANY_CONNECTIONS',
    });
    clients[0]?.ws.close();
    await clients[0]?.closed;
    const after = new RawClient(fx.server.port, { origin: PAGE });
    expect(await after.next((m) => m.type === 'hello')).toMatchObject({ approved: true });
  });
});

describe('cardlend serve: what a page may send', () => {
  it.each<[string, string | Buffer, number, string]>([
    ['malformed JSON', '{"type":', HELPER_CLOSE.MALFORMED, 'HELPER_MALFORMED'],
    ['an unknown type', '{"type":"exec","id":1}', HELPER_CLOSE.MALFORMED, 'HELPER_MALFORMED'],
    ['a binary frame', Buffer.from([1, 2, 3]), HELPER_CLOSE.MALFORMED, 'HELPER_MALFORMED'],
    [
      'an oversized message',
      `{"type":"list","id":1,"p":"${'x'.repeat(HELPER_LIMITS.maxMessageBytes)}"}`,
      HELPER_CLOSE.MESSAGE_TOO_LARGE,
      'HELPER_MESSAGE_TOO_LARGE',
    ],
    ['a huge frame', Buffer.alloc(HELPER_LIMITS.maxMessageBytes * 3, 0x41), 1009, ''],
  ])('closes on %s', async (_, data, code, reason) => {
    const fx = await startFixture({ approved: [PAGE] });
    const c = new RawClient(fx.server.port, { origin: PAGE });
    await c.next((m) => m.type === 'hello');
    c.sendRaw(data);
    expect(await c.closed).toEqual({ code, reason });
  });

  it('closes a flood with 4420', async () => {
    const fx = await startFixture({
      approved: [PAGE],
      limits: { rateBurst: 50, ratePerSecond: 10 },
    });
    const c = new RawClient(fx.server.port, { origin: PAGE });
    await c.next((m) => m.type === 'hello');
    for (let i = 1; i <= 200; i++) c.sendRaw(JSON.stringify({ type: 'list', id: i }));
    expect(await c.closed).toEqual({
      code: HELPER_CLOSE.RATE_LIMITED,
      reason: 'HELPER_RATE_LIMITED',
    });
  });

  it('one page at a time per reader: a second page is refused until the first lets go', async () => {
    const fx = await startFixture({ approved: [PAGE, 'https://other.example.org'] });
    const first = new RawClient(fx.server.port, { origin: PAGE });
    const second = new RawClient(fx.server.port, { origin: 'https://other.example.org' });
    const [a, b] = await Promise.all([
      first.request({ type: 'connect', reader: READER_A }),
      second.request({ type: 'connect', reader: READER_A }),
    ]);
    expect([a?.type, b?.type].sort()).toEqual(['error', 'ok']);
    const [owner, other] = a?.type === 'ok' ? [first, second] : [second, first];
    expect(await other.request({ type: 'connect', reader: READER_A })).toMatchObject({
      code: 'HELPER_READER_IN_USE',
    });
    expect(await other.request({ type: 'power-on', reader: READER_A })).toMatchObject({
      code: 'HELPER_NOT_CONNECTED',
    });
    const list = await other.request({ type: 'list' });
    expect(list).toMatchObject({
      result: {
        readers: [
          { name: READER_A, inUse: true },
          { name: READER_B, inUse: false },
        ],
      },
    });
    expect(await owner.request({ type: 'power-on', reader: READER_A })).toMatchObject({
      result: { atr: '3b80800101', protocol: 1 },
    });
    expect(
      await owner.request({ type: 'transmit', reader: READER_A, apdu: '8030000002abcd00' }),
    ).toMatchObject({ result: { answer: 'abcd9000' } });
    owner.ws.close();
    await owner.closed;
    await expect.poll(() => fx.slots[0]?.closed).toBe(1);
    expect(await other.request({ type: 'connect', reader: READER_A })).toMatchObject({
      type: 'ok',
    });
  });

  it('sends card events only to the page that holds the reader', async () => {
    const fx = await startFixture({ approved: [PAGE, 'https://other.example.org'] });
    const owner = new RawClient(fx.server.port, { origin: PAGE });
    const other = new RawClient(fx.server.port, { origin: 'https://other.example.org' });
    await other.next((m) => m.type === 'hello');
    await owner.request({ type: 'connect', reader: READER_B });
    fx.slots[1]?.insert();
    expect(await owner.next((m) => m.type === 'card')).toEqual({
      type: 'card',
      reader: READER_B,
      present: true,
    });
    fx.slots[1]?.unplug();
    expect(await owner.next((m) => m.type === 'reader-gone')).toEqual({
      type: 'reader-gone',
      reader: READER_B,
    });
    expect(other.messages.map((m) => m.type)).toEqual(['hello']);
  });

  it('tells approved pages, and only them, that the reader list changed', async () => {
    const fx = await startFixture({ approved: [PAGE] });
    const approved = new RawClient(fx.server.port, { origin: PAGE });
    const stranger = new RawClient(fx.server.port, { origin: 'https://evil.example.com' });
    await approved.next((m) => m.type === 'hello');
    await stranger.next((m) => m.type === 'hello');
    // a card comes and goes until the watch (which compares with its previous reading) saw it
    const slot = fx.slots[1]!;
    await expect
      .poll(
        () => {
          if (slot.isCardIn) slot.remove();
          else slot.insert();
          return approved.messages.some((m) => m.type === 'readers-changed');
        },
        { interval: 100, timeout: 10_000 },
      )
      .toBe(true);
    // the stranger's socket got nothing: a later message on it would arrive after this reply
    expect(await stranger.request({ type: 'list' })).toMatchObject({
      code: 'HELPER_ORIGIN_NOT_APPROVED',
    });
    expect(stranger.messages.map((m) => m.type)).toEqual(['hello', 'error']);
  });

  it('on stop, every page is closed with 4503 and the readers are let go', async () => {
    const fx = await startFixture({ approved: [PAGE] });
    const c = new RawClient(fx.server.port, { origin: PAGE });
    await c.request({ type: 'connect', reader: READER_A });
    await c.request({ type: 'power-on', reader: READER_A });
    const server = fx.server;
    const slot = fx.slots[0]!;
    await server.close();
    expect(await c.closed).toEqual({ code: HELPER_CLOSE.STOPPING, reason: 'HELPER_STOPPING' });
    expect(slot.closed).toBe(1);
    expect(slot.isPowered).toBe(false);
  });
});
