/** TLS on the listener (reloadable) and the reverse-proxy mode (issue 6, "Access control"). */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import { Writable } from 'node:stream';
import { RELAY_PATH, RELAY_SUBPROTOCOL } from '@cardlend/vscard';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { createAuditLog, createLogger } from '../src/ops/logger.ts';
import type { RelayServer } from '../src/server.ts';
import { FakeVmHost, msg, startTestRelay, until } from './helpers.ts';

let dir: string;
let host: FakeVmHost;
let relay: RelayServer | undefined;

function makeCert(name: string): void {
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-subj',
      `/CN=${name}`,
      '-days',
      '1',
      '-keyout',
      path.join(dir, `${name}.key`),
      '-out',
      path.join(dir, `${name}.crt`),
    ],
    { stdio: 'ignore' },
  );
}

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'cardlend-tls-'));
  makeCert('first');
  makeCert('second');
  copyFileSync(path.join(dir, 'first.crt'), path.join(dir, 'live.crt'));
  copyFileSync(path.join(dir, 'first.key'), path.join(dir, 'live.key'));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

afterEach(async () => {
  await relay?.close();
  relay = undefined;
  await host.close();
});

function open(url: string, headers: Record<string, string> = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, [RELAY_SUBPROTOCOL], { rejectUnauthorized: false, headers });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

function subjectOf(ws: WebSocket): string {
  const socket = (ws as unknown as { _socket: TLSSocket })._socket;
  return String(socket.getPeerCertificate().subject.CN);
}

describe('TLS', () => {
  it('serves wss:// and https://, and reloadTls() switches the certificate for new connections', async () => {
    host = await FakeVmHost.start();
    ({ relay } = await startTestRelay(host.port, {
      tls: { certFile: path.join(dir, 'live.crt'), keyFile: path.join(dir, 'live.key') },
    }));
    expect(relay.url).toMatch(/^https:\/\//);
    const url = `wss://127.0.0.1:${relay.address.port}${RELAY_PATH}`;
    const a = await open(url);
    expect(subjectOf(a)).toBe('first');
    const reply = new Promise<Buffer>((resolve) => a.once('message', (d: Buffer) => resolve(d)));
    a.send(msg(1, 0, '56534344 00000002 00000000'));
    expect((await reply).readUInt32BE(0)).toBe(1);
    copyFileSync(path.join(dir, 'second.crt'), path.join(dir, 'live.crt'));
    copyFileSync(path.join(dir, 'second.key'), path.join(dir, 'live.key'));
    relay.reloadTls();
    a.close(1000);
    await until(() => relay?.sessions.size === 0, 3000, 'session end');
    const b = await open(url);
    expect(subjectOf(b)).toBe('second');
    b.close(1000);
  });

  it('keeps the old certificate when the new files are broken', async () => {
    host = await FakeVmHost.start();
    copyFileSync(path.join(dir, 'first.crt'), path.join(dir, 'live2.crt'));
    copyFileSync(path.join(dir, 'first.key'), path.join(dir, 'live2.key'));
    ({ relay } = await startTestRelay(host.port, {
      tls: { certFile: path.join(dir, 'live2.crt'), keyFile: path.join(dir, 'live2.key') },
    }));
    rmSync(path.join(dir, 'live2.key'));
    expect(() => relay?.reloadTls()).toThrow(/cannot load TLS files/);
    const ws = await open(`wss://127.0.0.1:${relay.address.port}${RELAY_PATH}`);
    expect(subjectOf(ws)).toBe('first');
    ws.close(1000);
  });
});

describe('behind a reverse proxy', () => {
  async function clientAddressSeen(trustedProxies: string[]): Promise<unknown> {
    host = await FakeVmHost.start();
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _e, cb) {
        lines.push(chunk.toString());
        cb();
      },
    });
    ({ relay } = await startTestRelay(
      host.port,
      { trustedProxies },
      { audit: createAuditLog(createLogger({ destination })) },
    ));
    const ws = await open(`ws://127.0.0.1:${relay.address.port}${RELAY_PATH}`, {
      'X-Forwarded-For': '198.51.100.9, 203.0.113.7',
    });
    await until(() => lines.some((l) => l.includes('session-start')), 3000, 'audit');
    ws.close(1000);
    const start = lines.find((l) => l.includes('session-start')) as string;
    return (JSON.parse(start) as { clientAddress?: unknown }).clientAddress;
  }

  it('believes X-Forwarded-For only from a configured proxy', async () => {
    expect(await clientAddressSeen(['loopback'])).toBe('203.0.113.7');
  });

  it('ignores X-Forwarded-For by default', async () => {
    expect(await clientAddressSeen([])).toBe('127.0.0.1');
  });
});
