/**
 * The operator API on a two-node cluster (real redis-server, VSCard stand-in): a link minted
 * on A opens a session on B; A lists it (target, node, client address, since, APDU count;
 * never payloads); ending it through A closes the page with 4020 and removes the card from
 * the VM; requests without the bearer secret are refused.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RELAY_SUBPROTOCOL, RELAY_TOKEN_SUBPROTOCOL_PREFIX, RelayClose } from '@cardlend/vscard';
import { findFreePort } from '@cardlend/qemu-testbed';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RelayServer } from '../../src/server.ts';
import { Browser, FakeVmHost, msg, startTestRelay, until, wsUrl } from '../helpers.ts';
import { TestRedis } from './redis-server.ts';

const SECRET = new Uint8Array(32).fill(4);
const OPERATOR_SECRET = 'operator-secret-0123456789';

let redis: TestRedis;
let host: FakeVmHost;
let a: RelayServer;
let b: RelayServer;

async function node(nodeId: string, secretFile: string): Promise<RelayServer> {
  const { relay } = await startTestRelay(0, {
    targets: { vm1: { host: '127.0.0.1', port: host.port } },
    defaultTarget: 'vm1',
    tokenSecrets: [SECRET],
    cluster: { redisUrl: redis.url, nodeId, advertise: `127.0.0.1:${await findFreePort()}` },
    operator: { listen: { host: '127.0.0.1', port: 0 }, secretFile },
  });
  return relay;
}

beforeAll(async () => {
  redis = await TestRedis.start();
  host = await FakeVmHost.start();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cardlend-operator-'));
  const secretFile = path.join(dir, 'secret');
  writeFileSync(secretFile, `${OPERATOR_SECRET}\n`);
  a = await node('a', secretFile);
  b = await node('b', secretFile);
});

afterAll(async () => {
  await b?.close();
  await a?.close();
  await host?.close();
  await redis?.stop();
});

async function api(
  relay: RelayServer,
  method: string,
  pathname: string,
  body?: unknown,
  secret = OPERATOR_SECRET,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`http://127.0.0.1:${relay.operatorPort}${pathname}`, {
    method,
    headers: { Authorization: `Bearer ${secret}`, 'Content-Type': 'application/json' },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

describe('operator API', () => {
  it('refuses a request without the bearer secret', async () => {
    expect((await api(a, 'GET', '/v1/sessions', undefined, 'wrong')).status).toBe(401);
  });

  it('mints on A, lists on A a session lent through B, ends it from A: 4020 and the card removed', async () => {
    const minted = await api(a, 'POST', '/v1/links', { target: 'vm1', ttlSeconds: 60 });
    expect(minted.status).toBe(200);
    expect((await api(a, 'POST', '/v1/links', { target: 'nope' })).status).toBe(400);
    const browser = new Browser(wsUrl(b), [
      RELAY_SUBPROTOCOL,
      RELAY_TOKEN_SUBPROTOCOL_PREFIX + String(minted.json['token']),
    ]);
    await browser.opened;
    await until(() => host.connections.length > 0, 3000);
    const vm = host.connections.at(-1);
    browser.send(msg(3, 0)); // ReaderAdd
    await vm?.waitFor(() => (vm?.messages.length ?? 0) > 0, 3000, 'ReaderAdd');
    let listed: Record<string, unknown>[] = [];
    for (let i = 0; i < 50 && listed.length === 0; i++) {
      listed = (await api(a, 'GET', '/v1/sessions')).json['sessions'] as Record<string, unknown>[];
      if (listed.length === 0) await new Promise((r) => setTimeout(r, 100));
    }
    expect(listed).toEqual([
      {
        node: 'b',
        sessionId: expect.any(Number) as number,
        target: 'vm1',
        clientAddress: '127.0.0.1',
        since: expect.any(Number) as number,
        apduCount: 0,
      },
    ]);
    const id = listed[0]?.['sessionId'] as number;
    vm?.clear();
    expect((await api(a, 'DELETE', `/v1/sessions/b/${id}`)).status).toBe(202);
    const closed = await browser.closed;
    expect(closed.code).toBe(RelayClose.ENDED_BY_OPERATOR);
    expect(closed.reason).toMatch(/helpdesk/);
    await vm?.waitFor(() => vm.isEnded, 5000, 'FIN');
    expect(vm?.messages.map((m) => m.type)).toEqual([6, 4]); // CardRemove, ReaderRemove
  }, 30_000);
});
