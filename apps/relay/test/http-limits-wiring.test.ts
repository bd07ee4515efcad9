/** The HTTP limits wired into the listener: slowloris refused, sessions unaffected. */
import net from 'node:net';
import { afterEach, expect, it } from 'vitest';
import type { RelayServer } from '../src/server.ts';
import { Browser, FakeVmHost, msg, sleep, startTestRelay, wsUrl } from './helpers.ts';

let host: FakeVmHost;
let relay: RelayServer;

afterEach(async () => {
  await relay.close();
  await host.close();
});

it('drops a slowloris client after headersTimeoutMs while a live session outlives requestTimeoutMs', async () => {
  host = await FakeVmHost.start();
  ({ relay } = await startTestRelay(host.port, {
    http: { headersTimeoutMs: 300, requestTimeoutMs: 400, checkIntervalMs: 50 },
  }));
  const b = new Browser(wsUrl(relay));
  await b.opened;
  const slow = net.connect({ host: '127.0.0.1', port: relay.address.port });
  slow.on('error', () => {});
  const slowClosed = new Promise<number>((resolve) => {
    const t0 = Date.now();
    slow.once('close', () => resolve(Date.now() - t0));
  });
  slow.write('GET / HTTP/1.1\r\nHost: x\r\n');
  const drip = setInterval(() => slow.write('X-A: b\r\n'), 100);
  const elapsed = await slowClosed;
  clearInterval(drip);
  expect(elapsed).toBeLessThan(3000);
  // The WebSocket session (upgraded) is not subject to the request timeouts.
  await sleep(1000);
  b.send(msg(1, 0, '56534344 00000002 00000000'));
  expect((await b.frame(0)).readUInt32BE(0)).toBe(1);
  b.ws.close(1000);
  await b.closed;
});

it('cuts off a client sending its headers byte by byte while another client is served', async () => {
  host = await FakeVmHost.start();
  ({ relay } = await startTestRelay(host.port, {
    http: { headersTimeoutMs: 400, requestTimeoutMs: 500, checkIntervalMs: 50 },
  }));
  const slow = net.connect({ host: '127.0.0.1', port: relay.address.port });
  slow.on('error', () => {});
  let isClosed = false;
  const slowClosed = new Promise<number>((resolve) => {
    const t0 = Date.now();
    slow.once('close', () => {
      isClosed = true;
      resolve(Date.now() - t0);
    });
  });
  const request = 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: ' + 'a'.repeat(200) + '\r\n\r\n';
  let sent = 0;
  const drip = setInterval(() => {
    if (sent < request.length && !isClosed) slow.write(request[sent++] as string);
  }, 20);
  // Meanwhile a normal client is served, more than once.
  for (let i = 0; i < 3; i++) {
    const res = await fetch(`http://127.0.0.1:${relay.address.port}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('ok\n');
    await sleep(100);
  }
  const elapsed = await slowClosed;
  clearInterval(drip);
  // Cut off by the header deadline, long before it could finish (≈ 5 s at this pace).
  expect(sent).toBeLessThan(request.length);
  expect(elapsed).toBeLessThan(3000);
  // And the relay still serves after it.
  expect((await fetch(`http://127.0.0.1:${relay.address.port}/healthz`)).status).toBe(200);
});
