import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { mintToken } from '../../src/auth/tokens.ts';
import { createAuditLog, createLogger, scrubSecrets } from '../../src/ops/logger.ts';
import { PENDING_APDU_LATENCIES, createRelayMetrics } from '../../src/ops/metrics.ts';
import { Readiness, createOpsHandler } from '../../src/ops/http.ts';
import {
  ShutdownCoordinator,
  installShutdownSignals,
  type Drainable,
  type ShutdownLogEvent,
} from '../../src/ops/shutdown.ts';

function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      cb();
    },
  });
  return {
    lines,
    stream,
    records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

const token = mintToken({
  secret: new Uint8Array(32).fill(7),
  targetId: 'vm-1',
  ttlSeconds: 60,
  nowMs: Date.now(),
});
const apduHex = '00a4040009a00000030800001000';

describe('logger redaction', () => {
  it('audit events carry the documented fields and nothing else', async () => {
    const out = capture();
    const audit = createAuditLog(createLogger({ destination: out.stream }));
    const start = {
      sessionId: 's1',
      targetId: 'vm-1',
      target: '127.0.0.1:35963',
      clientAddress: '192.0.2.4',
      origin: 'https://a.example',
    };
    audit.sessionStart({ ...start, token, apdu: apduHex } as typeof start);
    audit.sessionEnd({
      ...start,
      apduCount: 12,
      bytesToVm: 340,
      bytesToBrowser: 900,
      durationMs: 1234,
      closeCode: 1000,
      closeReason: 'done',
      endedBy: 'browser',
      ...({ payload: new Uint8Array([1, 2]), lastApdu: apduHex } as object),
    });
    audit.refusal({ kind: 'token-expired', clientAddress: '192.0.2.4' });
    await new Promise((r) => setImmediate(r));
    const [s, e, r] = out.records();
    expect(s).toMatchObject({ event: 'session-start', ...start, msg: 'session started' });
    expect(e).toMatchObject({
      event: 'session-end',
      apduCount: 12,
      bytesToVm: 340,
      bytesToBrowser: 900,
      closeCode: 1000,
      endedBy: 'browser',
    });
    expect(r).toMatchObject({ event: 'refusal', kind: 'token-expired' });
    const all = out.lines.join('\n');
    expect(all).not.toContain(token);
    expect(all).not.toContain(apduHex);
    expect(all).not.toContain('payload');
  });

  it('censors secrets in any other log call: known paths, token-shaped strings, headers, errors', async () => {
    const out = capture();
    const log = createLogger({ destination: out.stream, level: 'debug' });
    log.info({ token, apdu: new Uint8Array([0, 0xa4]), data: 'x' }, 'object fields');
    log.info(
      {
        req: {
          headers: {
            'sec-websocket-protocol': `cardlend.vscard.v1, cardlend.token.${token}`,
            host: 'h',
          },
        },
      },
      'headers',
    );
    log.warn(`upgrade failed for cardlend.token.${token}`);
    log.error({ err: new Error(`bad ${token}`) }, 'error with token in message');
    log.debug({ nested: { deeper: { note: `see ${token} here` } } }, 'deep');
    await new Promise((r) => setImmediate(r));
    const all = out.lines.join('\n');
    expect(out.lines).toHaveLength(5);
    expect(all).not.toContain(token);
    expect(all).not.toContain(token.split('.')[2]);
    expect(all).toContain('[redacted]');
    expect(out.records()[1]).toMatchObject({ req: { headers: { host: 'h' } } });
    expect(out.records()[3]).toMatchObject({ err: { type: 'Error', message: 'bad [redacted]' } });
    expect(
      String(out.records()[3]?.['err'] && (out.records()[3]?.['err'] as { stack: string }).stack),
    ).toContain('ops.test.ts');
  });

  it('scrubSecrets leaves ordinary text alone', () => {
    expect(scrubSecrets('session s1 ended after 12 APDUs (v1.2.3)')).toBe(
      'session s1 ended after 12 APDUs (v1.2.3)',
    );
    expect(scrubSecrets(`a ${token} b`)).toBe('a [redacted] b');
  });
});

describe('metrics', () => {
  it('exposes sessions, APDUs, latency, refusals and bytes in Prometheus format', async () => {
    const m = createRelayMetrics({ hasProcessMetrics: false });
    m.sessionStarted();
    m.sessionStarted();
    m.sessionEnded();
    m.observeApdu(0.0004);
    m.observeApdu(0.003);
    m.observeApdu(Number.NaN); // counted, not observed
    m.refused('origin-refused');
    m.refused('origin-refused');
    m.refused('token-expired');
    m.addBytes('to_vm', 100);
    m.addBytes('to_browser', 250);
    m.addBytes('to_vm', 5);
    const text = await m.registry.metrics();
    expect(text).toContain('cardlend_relay_sessions_active 1');
    expect(text).toContain('cardlend_relay_sessions_total 2');
    expect(text).toContain('cardlend_relay_apdus_total 3');
    expect(text).toContain('cardlend_relay_apdu_latency_seconds_bucket{le="0.0005"} 1');
    expect(text).toContain('cardlend_relay_apdu_latency_seconds_bucket{le="0.005"} 2');
    expect(text).toContain('cardlend_relay_apdu_latency_seconds_count 2');
    expect(text).toContain('cardlend_relay_refusals_total{reason="origin-refused"} 2');
    expect(text).toContain('cardlend_relay_refusals_total{reason="token-expired"} 1');
    expect(text).toContain('cardlend_relay_refusals_total{reason="vm-in-use"} 0');
    expect(text).toContain('cardlend_relay_bytes_total{direction="to_vm"} 105');
    expect(text).toContain('cardlend_relay_bytes_total{direction="to_browser"} 250');
    // A second scrape reports the same totals (collect is idempotent).
    expect(await m.registry.metrics()).toContain(
      'cardlend_relay_bytes_total{direction="to_vm"} 105',
    );
  });

  it('counts every APDU latency exactly, across the batches it hands to the histogram', async () => {
    const m = createRelayMetrics({ hasProcessMetrics: false });
    // More than two batches before the first scrape: two flushes while observing, the rest
    // at scrape time; then more after it, which the next scrape adds.
    const first = 2 * PENDING_APDU_LATENCIES + 37;
    let sumUs = 0;
    for (let i = 0; i < first; i++) {
      const us = i % 2 === 0 ? 200 : 3000; // 0.2 ms and 3 ms, in alternation
      m.observeApdu(us / 1e6);
      sumUs += us;
    }
    const bucket = (text: string, le: string): number =>
      Number(
        new RegExp(`cardlend_relay_apdu_latency_seconds_bucket\\{le="${le}"\\} (\\d+)`).exec(
          text,
        )?.[1],
      );
    let text = await m.registry.metrics();
    expect(text).toContain(`cardlend_relay_apdu_latency_seconds_count ${first}`);
    expect(bucket(text, '0.00025')).toBe(Math.ceil(first / 2));
    expect(bucket(text, '0.005')).toBe(first);
    const sum = Number(/cardlend_relay_apdu_latency_seconds_sum (\S+)/.exec(text)?.[1]);
    expect(sum).toBeCloseTo(sumUs / 1e6, 9);
    for (let i = 0; i < 5; i++) m.observeApdu(0.02);
    text = await m.registry.metrics();
    expect(text).toContain(`cardlend_relay_apdu_latency_seconds_count ${first + 5}`);
    expect(bucket(text, '0.025')).toBe(first + 5);
    expect(bucket(text, '0.005')).toBe(first);
    // The JSON form reads the same numbers.
    const json = await m.registry.getMetricsAsJSON();
    const hist = json.find((x) => x.name === 'cardlend_relay_apdu_latency_seconds');
    const count = hist?.values.find((v) =>
      (v as { metricName?: string }).metricName?.endsWith('_count'),
    );
    expect(count?.value).toBe(first + 5);
  });

  it('can add the process metrics, in a registry of its own', async () => {
    const a = createRelayMetrics();
    const b = createRelayMetrics();
    expect(await a.registry.metrics()).toContain('cardlend_relay_process_cpu_seconds_total');
    expect(b.registry).not.toBe(a.registry);
  });
});

describe('ops HTTP handler', () => {
  let server: Server | undefined;
  afterEach(async () => {
    await new Promise((r) => server?.close(r) ?? r(undefined));
  });

  it('answers /healthz, /readyz (by readiness) and /metrics, and leaves other paths alone', async () => {
    const readiness = new Readiness();
    const metrics = createRelayMetrics({ hasProcessMetrics: false });
    const ops = createOpsHandler({ registry: metrics.registry, readiness });
    server = createServer((req, res) => {
      if (ops(req, res)) return;
      res.writeHead(404).end('app');
    });
    await new Promise<void>((r) => server?.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    let ready = await fetch(`${base}/readyz`);
    expect([ready.status, await ready.text()]).toEqual([503, 'starting\n']);
    readiness.markListening();
    ready = await fetch(`${base}/readyz?x=1`);
    expect([ready.status, await ready.text()]).toEqual([200, 'ready\n']);
    readiness.markDraining();
    expect((await fetch(`${base}/readyz`)).status).toBe(503);
    metrics.sessionStarted();
    const res = await fetch(`${base}/metrics`);
    expect(res.headers.get('content-type')).toContain('text/plain');
    expect(await res.text()).toContain('cardlend_relay_sessions_active 1');
    expect((await fetch(`${base}/metrics`, { method: 'POST' })).status).toBe(405);
    expect(await (await fetch(`${base}/`)).text()).toBe('app');
  });
});

describe('ShutdownCoordinator', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  function session(drainMs: number | 'never' | 'reject') {
    const calls: string[] = [];
    const s: Drainable = {
      drain: (reason) => {
        calls.push(`drain:${reason}`);
        if (drainMs === 'reject') return Promise.reject(new Error('socket error'));
        if (drainMs === 'never') return new Promise(() => {});
        return new Promise((r) => setTimeout(r, drainMs));
      },
      abort: () => calls.push('abort'),
    };
    return { s, calls };
  }

  it('stops accepting, marks not ready, drains every session, aborts the late ones at the deadline', async () => {
    vi.useFakeTimers();
    const order: string[] = [];
    const readiness = new Readiness();
    readiness.markListening();
    const events: ShutdownLogEvent[] = [];
    const c = new ShutdownCoordinator({
      readiness,
      deadlineMs: 1000,
      stopAccepting: () => {
        order.push(`stop (ready=${readiness.isReady})`);
      },
      onLog: (e) => events.push(e),
    });
    const fast = session(10);
    const slow = session(500);
    const hung = session('never');
    const broken = session('reject');
    const gone = session(1);
    for (const x of [fast, slow, hung, broken]) c.register(x.s);
    c.register(gone.s)(); // ended before the shutdown
    const done = c.shutdown();
    expect(c.shutdown()).toBe(done);
    expect(c.isDraining).toBe(true);
    await vi.advanceTimersByTimeAsync(600);
    const late = session(10);
    c.register(late.s); // admitted in the race: drained at once
    await vi.advanceTimersByTimeAsync(600);
    const report = await done;
    expect(order).toEqual(['stop (ready=false)']);
    expect(report).toMatchObject({ sessions: 5, drained: 3, failed: 1, aborted: 1 });
    expect(fast.calls).toEqual(['drain:shutdown']);
    expect(hung.calls).toEqual(['drain:shutdown', 'abort']);
    expect(late.calls).toEqual(['drain:shutdown']);
    expect(gone.calls).toEqual([]);
    expect(events.map((e) => e.event)).toEqual([
      'shutdown-start',
      'shutdown-error',
      'shutdown-done',
    ]);
    expect(c.size).toBe(0);
  });

  it('finishes early when everything drained, without waiting for the deadline', async () => {
    const c = new ShutdownCoordinator({
      deadlineMs: 60_000,
      stopAccepting: () => Promise.reject(new Error('already closed')),
    });
    c.register({ drain: () => Promise.resolve() });
    const t0 = performance.now();
    expect(await c.shutdown()).toMatchObject({ sessions: 1, drained: 1, aborted: 0 });
    expect(performance.now() - t0).toBeLessThan(5000);
  });

  it('exits 0 after a clean SIGTERM drain, 1 on a second signal', async () => {
    const listeners = new Map<string, () => void>();
    const source = {
      on: (s: string, l: () => void) => listeners.set(s, l),
      off: (s: string) => listeners.delete(s),
    };
    const exits: number[] = [];
    const c = new ShutdownCoordinator({ stopAccepting: () => {} });
    c.register({ drain: () => new Promise((r) => setTimeout(r, 20)) });
    const uninstall = installShutdownSignals({
      coordinator: c,
      exit: (code) => exits.push(code),
      source,
    });
    listeners.get('SIGTERM')?.();
    listeners.get('SIGINT')?.();
    expect(exits).toEqual([1]);
    await c.shutdown();
    await new Promise((r) => setTimeout(r, 0));
    expect(exits).toEqual([1, 0]);
    uninstall();
    expect(listeners.size).toBe(0);
  });
});
