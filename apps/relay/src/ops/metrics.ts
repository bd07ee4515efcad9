/**
 * Prometheus metrics (prom-client; issue 6, "Operations": sessions, APDUs, APDU latency
 * histogram, refusals by reason, bytes). The per-message path only adds to plain numbers
 * and stores APDU latencies in a fixed array; prom-client reads them at scrape time
 * (`collect`), so a relayed message costs a few additions and no allocation.
 *
 * Integration (server.ts, session-runner.ts, websocket-front.ts): one `createRelayMetrics()` per process; serve
 * `metrics.registry` with `createOpsHandler` (ops/http.ts). Per session:
 * `metrics.sessionStarted()` when admitted, `metrics.sessionEnded()` when closed;
 * `metrics.addBytes('to_vm', n)` / `metrics.addBytes('to_browser', n)` per message;
 * `metrics.observeApdu(seconds)` when the browser's answer to a guest APDU arrives,
 * with seconds measured from the guest command (`performance.now()` difference / 1000);
 * `metrics.refused(kind)` for every refusal (limits/refusals.ts).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { REFUSAL_KINDS, type RefusalKind } from '../limits/refusals.ts';

/** Bucket upper bounds of the APDU latency histogram, seconds (100 µs … 10 s). */
export const APDU_LATENCY_BUCKETS_SECONDS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/**
 * APDU latencies waiting for the histogram. prom-client's `observe` hashes labels and
 * allocates on every call (0.2 µs warm, microseconds while V8 warms up), so the message path
 * only stores the value here; the histogram takes them in one loop at scrape time, or when
 * this many are waiting (about one flush per 512 APDUs under load).
 */
export const PENDING_APDU_LATENCIES = 512;

/** Direction label of the bytes counter. */
export type ByteDirection = 'to_vm' | 'to_browser';

/** The relay's metrics. */
export interface RelayMetrics {
  /** The registry to expose (not prom-client's global one). */
  readonly registry: Registry;
  sessionStarted(): void;
  sessionEnded(): void;
  /** One APDU exchange done; `latencySeconds` from guest command to browser answer. */
  observeApdu(latencySeconds: number): void;
  refused(kind: RefusalKind): void;
  addBytes(direction: ByteDirection, bytes: number): void;
  /** A session notice (e.g. `nagle-suspected`: a VM chardev without nodelay=on, issue 11 §4). */
  notice?(code: string): void;
}

/** Options of {@link createRelayMetrics}. */
export interface RelayMetricsOptions {
  /** Metric name prefix; default 'cardlend_relay_'. */
  readonly prefix?: string;
  /** Also export Node process metrics (CPU, memory, event-loop lag, fds); default true. */
  readonly hasProcessMetrics?: boolean;
}

/** Counters and gauges read from plain numbers at scrape time. */
function registerTotals(
  registry: Registry,
  prefix: string,
  state: { active: number; total: number; apdus: number; toVm: number; toBrowser: number },
  refusals: ReadonlyMap<RefusalKind, number>,
): void {
  new Gauge({
    name: `${prefix}sessions_active`,
    help: 'Browser sessions currently open.',
    registers: [registry],
    collect() {
      this.set(state.active);
    },
  });
  const totals: [string, string, () => number][] = [
    ['sessions_total', 'Browser sessions admitted since start.', () => state.total],
    ['apdus_total', 'Guest APDU commands answered by browsers.', () => state.apdus],
  ];
  for (const [name, help, read] of totals) {
    new Counter({
      name: `${prefix}${name}`,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  }
  new Counter({
    name: `${prefix}refusals_total`,
    help: 'Refused or ended sessions, by reason.',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [reason, n] of refusals) this.inc({ reason }, n);
    },
  });
  new Counter({
    name: `${prefix}bytes_total`,
    help: 'VSCard bytes relayed, by direction.',
    labelNames: ['direction'],
    registers: [registry],
    collect() {
      this.reset();
      this.inc({ direction: 'to_vm' }, state.toVm);
      this.inc({ direction: 'to_browser' }, state.toBrowser);
    },
  });
}

/** Creates the metrics in a fresh registry. */
export function createRelayMetrics(opts: RelayMetricsOptions = {}): RelayMetrics {
  const prefix = opts.prefix ?? 'cardlend_relay_';
  const registry = new Registry();
  if (opts.hasProcessMetrics ?? true) collectDefaultMetrics({ register: registry, prefix });
  const state = { active: 0, total: 0, apdus: 0, toVm: 0, toBrowser: 0 };
  const refusals = new Map<RefusalKind, number>(REFUSAL_KINDS.map((k) => [k, 0]));
  registerTotals(registry, prefix, state, refusals);
  const pending = new Float64Array(PENDING_APDU_LATENCIES);
  let pendingCount = 0;
  const flushLatencies = (): void => {
    for (let i = 0; i < pendingCount; i++) latency.observe(pending[i] as number);
    pendingCount = 0;
  };
  const latency = new Histogram({
    name: `${prefix}apdu_latency_seconds`,
    help: 'Time from a guest APDU command to the browser answer, seconds.',
    buckets: APDU_LATENCY_BUCKETS_SECONDS,
    registers: [registry],
    collect: flushLatencies,
  });
  const notices = new Map<string, number>();
  new Counter({
    name: `${prefix}session_notices_total`,
    help: "Session notices by code (nagle-suspected: a VM's chardev lacks nodelay=on).",
    labelNames: ['code'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [code, n] of notices) this.inc({ code }, n);
    },
  });
  return {
    registry,
    notice(code) {
      notices.set(code, (notices.get(code) ?? 0) + 1);
    },
    sessionStarted() {
      state.active++;
      state.total++;
    },
    sessionEnded() {
      if (state.active > 0) state.active--;
    },
    observeApdu(latencySeconds) {
      state.apdus++;
      if (!(Number.isFinite(latencySeconds) && latencySeconds >= 0)) return;
      pending[pendingCount++] = latencySeconds;
      if (pendingCount === PENDING_APDU_LATENCIES) flushLatencies();
    },
    refused(kind) {
      refusals.set(kind, (refusals.get(kind) ?? 0) + 1);
    },
    addBytes(direction, bytes) {
      if (direction === 'to_vm') state.toVm += bytes;
      else state.toBrowser += bytes;
    },
  };
}
