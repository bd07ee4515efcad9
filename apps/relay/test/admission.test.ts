/** Wiring of issue 6's access control, limits and operations into the server (server.ts). */
import { Writable } from 'node:stream';
import { RelayClose, RELAY_SUBPROTOCOL, RELAY_TOKEN_SUBPROTOCOL_PREFIX } from '@cardlend/vscard';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mintToken } from '../src/auth/tokens.ts';
import { createAuditLog, createLogger } from '../src/ops/logger.ts';
import { createRelayMetrics } from '../src/ops/metrics.ts';
import { type Browser, FakeVmHost, msg, type startTestRelay, until } from './helpers.ts';
import { relayFleetPerTest } from './relay-rig.ts';

const SECRET = Uint8Array.from(Buffer.from('k'.repeat(40)));
const OTHER_SECRET = Uint8Array.from(Buffer.from('z'.repeat(40)));
const INIT = msg(1, 0, '56534344 00000002 00000000');
const ERROR_OK = msg(2, 0, '00000000');
const nowMs = () => Date.now();

function token(
  targetId: string,
  opts: { secret?: Uint8Array; ttlSeconds?: number; nowMs?: number; isOneTime?: boolean } = {},
) {
  return mintToken({
    secret: opts.secret ?? SECRET,
    targetId,
    ttlSeconds: opts.ttlSeconds ?? 60,
    nowMs: opts.nowMs ?? nowMs(),
    isOneTime: opts.isOneTime ?? true,
  });
}

function withToken(t: string): string[] {
  return [RELAY_SUBPROTOCOL, RELAY_TOKEN_SUBPROTOCOL_PREFIX + t];
}

let vmA: FakeVmHost;
let vmB: FakeVmHost;

beforeEach(async () => {
  vmA = await FakeVmHost.start();
  vmB = await FakeVmHost.start();
});

afterEach(async () => {
  await vmA.close();
  await vmB.close();
});

const fleet = relayFleetPerTest();

async function tokenRelay(
  overrides: Parameters<typeof startTestRelay>[1] = {},
  extra: Parameters<typeof startTestRelay>[2] = {},
) {
  return fleet.start(
    vmA.port,
    {
      targets: {
        'vm-a': { host: '127.0.0.1', port: vmA.port },
        'vm-b': { host: '127.0.0.1', port: vmB.port },
      },
      defaultTarget: 'vm-a',
      tokenSecrets: [SECRET],
      authTimeoutMs: 300,
      ...overrides,
    },
    extra,
  );
}

describe('session tokens', () => {
  it('a token in the subprotocol opens a session to the VM it names (never the browser’s choice)', async () => {
    const { relay } = await tokenRelay();
    const b = fleet.browser(relay, withToken(token('vm-b')));
    await b.opened;
    expect(b.ws.protocol).toBe(RELAY_SUBPROTOCOL); // the token is never echoed
    b.send(INIT);
    expect((await b.frame(0)).readUInt32BE(0)).toBe(1);
    expect(vmB.connections).toHaveLength(1);
    expect(vmA.connections).toHaveLength(0);
  });

  it('a token in the first text message works too', async () => {
    const { relay } = await tokenRelay();
    const b = fleet.browser(relay);
    await b.opened;
    b.send(JSON.stringify({ token: token('vm-a') }), false);
    b.send(INIT); // sent right behind the token: held, then forwarded
    expect((await b.frame(0)).readUInt32BE(0)).toBe(1);
    expect(vmA.connections[0]?.messages[0]?.bytes.equals(INIT)).toBe(true);
  });

  it.each<[string, () => string | undefined, number]>([
    ['no token (deadline)', () => undefined, RelayClose.AUTH_TIMEOUT],
    ['a forged token', () => token('vm-a', { secret: OTHER_SECRET }), RelayClose.UNAUTHORIZED],
    [
      'an expired token',
      () => token('vm-a', { ttlSeconds: 1, nowMs: nowMs() - 3600_000 }),
      RelayClose.UNAUTHORIZED,
    ],
    ['a token for a VM this relay does not serve', () => token('vm-zzz'), RelayClose.UNAUTHORIZED],
    ['garbage', () => 'not-a-token', RelayClose.UNAUTHORIZED],
  ])('refuses %s; no VM is contacted', async (_name, make, code) => {
    const { relay, events } = await tokenRelay();
    const t = make();
    const b = fleet.browser(relay, t === undefined ? [RELAY_SUBPROTOCOL] : withToken(t));
    const closed = await b.closed;
    expect(closed.code).toBe(code);
    expect(closed.reason.length).toBeGreaterThan(0);
    expect(vmA.connections.length + vmB.connections.length).toBe(0);
    expect(JSON.stringify(events)).not.toContain(t ?? '\u0000');
  });

  it('refuses a binary frame instead of the first-message token', async () => {
    const { relay } = await tokenRelay();
    const b = fleet.browser(relay);
    await b.opened;
    b.send(INIT);
    expect((await b.closed).code).toBe(RelayClose.UNAUTHORIZED);
    expect(vmA.connections).toHaveLength(0);
  });

  it('a one-time token opens one session ever', async () => {
    const { relay } = await tokenRelay();
    const t = token('vm-a');
    const first = fleet.browser(relay, withToken(t));
    await first.opened;
    first.ws.close(1000);
    await first.closed;
    await until(() => relay.sessions.size === 0, 3000, 'first session end');
    const second = fleet.browser(relay, withToken(t));
    expect((await second.closed).code).toBe(RelayClose.TOKEN_USED);
  });

  it('a session-bound token allows one live session at a time', async () => {
    const { relay } = await tokenRelay();
    const t = token('vm-a', { isOneTime: false });
    const first = fleet.browser(relay, withToken(t));
    await first.opened;
    const second = fleet.browser(relay, withToken(t));
    expect((await second.closed).code).toBe(RelayClose.TOKEN_USED);
    first.ws.close(1000);
    await first.closed;
    await until(() => relay.sessions.size === 0, 3000, 'first session end');
    const third = fleet.browser(relay, withToken(t));
    await third.opened;
    third.send(INIT);
    expect((await third.frame(0)).readUInt32BE(0)).toBe(1);
  });
});

describe('origin allowlist', () => {
  it('refuses a foreign origin, allows the listed one and the relay’s own page', async () => {
    const { relay } = await tokenRelay({
      tokenSecrets: [],
      allowedOrigins: ['https://help.example.com'],
    });
    const evil = fleet.browser(relay, undefined, { origin: 'https://evil.example' });
    expect((await evil.closed).code).toBe(RelayClose.ORIGIN_REFUSED);
    const listed = fleet.browser(relay, undefined, { origin: 'https://help.example.com' });
    await listed.opened;
    listed.ws.close(1000);
    await listed.closed;
    await until(() => relay.sessions.size === 0, 3000, 'session end');
    const own = fleet.browser(relay, undefined, {
      origin: `http://127.0.0.1:${relay.address.port}`,
    });
    await own.opened;
    own.send(INIT);
    expect((await own.frame(0)).readUInt32BE(0)).toBe(1);
  });
});

describe('limits', () => {
  /** A session (Init answered) on a relay that pings every 100 ms and ends idle sessions. */
  async function sessionWithIdleTimeout(idleTimeoutMs: number): Promise<Browser> {
    const { relay } = await tokenRelay({ tokenSecrets: [], idleTimeoutMs, pingIntervalMs: 100 });
    const b = fleet.browser(relay);
    await b.opened;
    b.send(INIT);
    await b.frame(0);
    return b;
  }

  it('caps sessions per client address', async () => {
    const { relay } = await tokenRelay({ tokenSecrets: [], maxSessionsPerAddress: 1 });
    const first = fleet.browser(relay);
    await first.opened;
    const second = fleet.browser(relay);
    expect((await second.closed).code).toBe(RelayClose.RATE_LIMITED);
  });

  it('closes an idle session with IDLE_TIMEOUT and removes the card from the VM', async () => {
    const b = await sessionWithIdleTimeout(300);
    const closed = await b.closed;
    expect(closed.code).toBe(RelayClose.IDLE_TIMEOUT);
    const conn = vmA.connections[0];
    await conn?.waitFor(() => conn.isEnded, 3000, 'FIN');
    expect(conn?.messages.map((m) => m.type)).toEqual([1, 6, 4]);
  });

  it('keeps a session with traffic past the idle timeout, then closes it once traffic stops', async () => {
    const b = await sessionWithIdleTimeout(400);
    let isClosed = false;
    void b.closed.then(() => (isClosed = true));
    // The heartbeat visits the session once per ping interval; an idle expiry would happen at
    // a visit, and then no later ping comes. A message after each of 12 pings (three idle
    // timeouts): every visit found traffic and pinged again.
    const conn = vmA.connections[0];
    let pings = 0;
    await new Promise<void>((resolve) => {
      b.ws.on('ping', () => {
        if (++pings === 12) resolve();
        else if (pings < 12) b.send(ERROR_OK); // VSC_Error(0): no reply expected, harmless to QEMU
      });
    });
    expect(isClosed).toBe(false);
    await conn?.waitFor(() => conn.messages.length >= 12, 3000, 'the messages');
    const pingsWhenQuiet = pings;
    const closed = await b.closed;
    expect(closed.code).toBe(RelayClose.IDLE_TIMEOUT);
    // Quiet from the 12th ping on: the expiry took at least idleTimeoutMs / pingIntervalMs visits.
    expect(pings - pingsWhenQuiet).toBeGreaterThanOrEqual(3);
  });
});

describe('operations', () => {
  it('serves /healthz, /readyz and /metrics with session, byte and refusal counters', async () => {
    const metrics = createRelayMetrics({ hasProcessMetrics: false });
    const { relay } = await tokenRelay({ tokenSecrets: [] }, { metrics });
    const base = `http://127.0.0.1:${relay.address.port}`;
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    const b = fleet.browser(relay);
    await b.opened;
    b.send(INIT);
    await b.frame(0);
    const second = fleet.browser(relay);
    await second.closed; // VM_IN_USE
    const text = await (await fetch(`${base}/metrics`)).text();
    expect(text).toMatch(/cardlend_relay_sessions_active 1/);
    expect(text).toMatch(/cardlend_relay_bytes_total\{direction="to_vm"\} 24/);
    expect(text).toMatch(/cardlend_relay_bytes_total\{direction="to_browser"\} 24/);
    expect(text).toMatch(/cardlend_relay_refusals_total\{reason="vm-in-use"\} 1/);
  });

  it('writes JSON audit lines without tokens or payloads', async () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(
          ...chunk
            .toString()
            .split('\n')
            .filter((l) => l !== ''),
        );
        cb();
      },
    });
    const audit = createAuditLog(createLogger({ destination }));
    const { relay } = await tokenRelay({}, { audit });
    const t = token('vm-a');
    const b = fleet.browser(relay, withToken(t));
    await b.opened;
    const secretApdu = msg(7, 0, 'cafebabe9000');
    const conn = await vmA.nextConnection(0);
    conn.socket.write(msg(7, 0, '00200080083132333435363738')); // a VERIFY PIN guest command
    await b.frame(0);
    b.send(secretApdu);
    b.ws.close(1000);
    await until(() => lines.some((l) => l.includes('session-end')), 3000, 'audit end');
    const forged = fleet.browser(relay, withToken(token('vm-a', { secret: OTHER_SECRET })));
    await forged.closed;
    await until(() => lines.some((l) => l.includes('"refusal"')), 3000, 'audit refusal');
    const all = lines.join('\n');
    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(parsed.map((p) => p['event'])).toEqual(['session-start', 'session-end', 'refusal']);
    // Start and end name the same session, target and client.
    const who = {
      sessionId: parsed[0]?.['sessionId'],
      targetId: 'vm-a',
      target: `127.0.0.1:${vmA.port}`,
      clientAddress: '127.0.0.1',
    };
    expect(parsed[0]).toMatchObject({ ...who, sessionId: expect.any(String) });
    expect(parsed[1]).toMatchObject(who);
    expect(parsed[1]).toMatchObject({
      targetId: 'vm-a',
      apduCount: 1,
      endedBy: 'browser',
      closeCode: 1000,
    });
    expect(all).not.toContain(t);
    expect(all).not.toMatch(/cafebabe|3132333435363738/);
  });

  it('readiness drains on close()', async () => {
    const { relay } = await tokenRelay({ tokenSecrets: [] });
    expect(relay.readiness.state).toBe('ready');
    const closing = relay.close();
    expect(relay.readiness.state).toBe('draining');
    await closing;
    fleet.relays.splice(fleet.relays.indexOf(relay), 1);
  });
});
