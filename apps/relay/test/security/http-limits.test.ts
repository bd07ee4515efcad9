import { createServer, type Server } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { applyHttpLimits, httpServerOptions } from '../../src/limits/http-limits.ts';

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r) ?? r(undefined));
  server = undefined;
});

async function start(limits: Parameters<typeof httpServerOptions>[0]): Promise<number> {
  server = createServer(httpServerOptions(limits), (_req, res) => res.end('page'));
  applyHttpLimits(server, limits);
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) =>
    wss.handleUpgrade(req, socket, head, (ws) => ws.send('hi')),
  );
  await new Promise<void>((r) => server?.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

/** Resolves with the ms until the server closed the socket (or null if it did not in `waitMs`). */
function dribble(
  port: number,
  lines: string[],
  everyMs: number,
  waitMs: number,
): Promise<{ ms: number | null; data: string }> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const s = net.connect({ host: '127.0.0.1', port });
    let data = '';
    let i = 0;
    const timer = setInterval(() => {
      if (i < lines.length && !s.destroyed) s.write(lines[i++] ?? '');
    }, everyMs);
    const give = setTimeout(() => {
      clearInterval(timer);
      s.destroy();
      resolve({ ms: null, data });
    }, waitMs);
    s.on('data', (d) => (data += d.toString()));
    s.on('error', () => {});
    s.on('close', () => {
      clearInterval(timer);
      clearTimeout(give);
      resolve({ ms: performance.now() - t0, data });
    });
  });
}

describe('HTTP limits', () => {
  it('cuts off a slowloris upgrade that never finishes its headers', async () => {
    const port = await start({
      headersTimeoutMs: 400,
      requestTimeoutMs: 800,
      checkIntervalMs: 100,
    });
    const lines = [
      'GET /vscard HTTP/1.1\r\n',
      ...Array.from({ length: 100 }, (_, i) => `X-Slow-${i}: a\r\n`),
    ];
    const r = await dribble(port, lines, 50, 5000);
    expect(r.ms).not.toBeNull();
    expect(r.ms ?? Infinity).toBeLessThan(2000);
    expect(r.data).toMatch(/^HTTP\/1\.1 408|^$/);
  });

  it('refuses an oversized header block with 431, and still serves a normal upgrade', async () => {
    const port = await start({ maxHeaderBytes: 1024, checkIntervalMs: 100 });
    const r = await dribble(
      port,
      [`GET /vscard HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(4000)}\r\n\r\n`],
      1,
      3000,
    );
    expect(r.data).toMatch(/^HTTP\/1\.1 431/);
    const key = 'dGhlIHNhbXBsZSBub25jZQ==';
    const ok = await dribble(
      port,
      [
        `GET /vscard HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      ],
      1,
      500,
    );
    expect(ok.data).toMatch(/^HTTP\/1\.1 101/);
  });

  it('sets the server-side limits and rejects nonsense', () => {
    const s = createServer();
    applyHttpLimits(s, { maxConnections: 100 });
    expect([
      s.headersTimeout,
      s.requestTimeout,
      s.keepAliveTimeout,
      s.maxHeadersCount,
      s.maxConnections,
    ]).toEqual([10_000, 30_000, 5000, 64, 100]);
    expect(() => httpServerOptions({ headersTimeoutMs: 0 })).toThrow(RangeError);
    expect(() => httpServerOptions({ headersTimeoutMs: 5000, requestTimeoutMs: 1000 })).toThrow(
      RangeError,
    );
  });
});
