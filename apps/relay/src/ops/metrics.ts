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
 * `metrics.refused(kind)` for every refusal (limits/refusals.ts);
 * `metrics.linkRefused(kind)` for each connection the cluster link refuses (cluster/link-refusals.ts,
 * through cluster/wiring.ts) and `metrics.vmTlsRefused(kind)` for each the VM TLS listener refuses
 * (vm-tls-refusal.ts, through server.ts).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { LINK_REFUSAL_KINDS, type LinkRefusalKind } from '../cluster/link-refusals.ts';
import { REFUSAL_KINDS, type RefusalKind } from '../limits/refusals.ts';
import { VM_TLS_REFUSAL_KINDS, type VmTlsRefusalKind } from '../vm-tls-refusal.ts';

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
  /** A connection to the cluster link refused (or a refused one cut off: `linger-expired`). */
  linkRefused(kind: LinkRefusalKind): void;
  /** A connection to the VM TLS listener refused before it named a target. */
  vmTlsRefused(kind: VmTlsRefusalKind): void;
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

/** A counter by one label, read from `counts` (label value → total) at scrape time. */
function labelledCounter(
  registry: Registry,
  name: string,
  help: string,
  label: string,
  counts: ReadonlyMap<string, number>,
): void {
  new Counter({
    name,
    help,
    labelNames: [label],
    registers: [registry],
    collect() {
      this.reset();
      for (const [value, n] of counts) this.inc({ [label]: value }, n);
    },
  });
}

/** Adds one to `key`'s total. */
function tally<K>(counts: Map<K, number>, key: K): void {
  counts.set(key, (counts.get(key) ?? 0) + 1);
}

/** A total per kind, each kind at 0 from the start (so every series exists before the first). */
const zeroed = <K extends string>(kinds: readonly K[]) =>
  new Map<K, number>(kinds.map((k) => [k, 0]));

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
  labelledCounter(
    registry,
    `${prefix}refusals_total`,
    'Refused or ended sessions, by reason.',
    'reason',
    refusals,
  );
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
  const refusals = zeroed(REFUSAL_KINDS);
  registerTotals(registry, prefix, state, refusals);
  const linkRefusals = zeroed(LINK_REFUSAL_KINDS);
  labelledCounter(
    registry,
    `${prefix}cluster_link_refusals_total`,
    'Connections to the cluster link refused, by reason (linger-expired: a refused link cut off because its peer kept it open).',
    'reason',
    linkRefusals,
  );
  const vmTlsRefusals = zeroed(VM_TLS_REFUSAL_KINDS);
  labelledCounter(
    registry,
    `${prefix}vm_tls_refusals_total`,
    'Connections to the VM TLS listener refused before naming a target, by reason.',
    'reason',
    vmTlsRefusals,
  );
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
  labelledCounter(
    registry,
    `${prefix}session_notices_total`,
    "Session notices by code (nagle-suspected: a VM's chardev lacks nodelay=on).",
    'code',
    notices,
  );
  return {
    registry,
    notice(code) {
      tally(notices, code);
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
      tally(refusals, kind);
    },
    linkRefused(kind) {
      tally(linkRefusals, kind);
    },
    vmTlsRefused(kind) {
      tally(vmTlsRefusals, kind);
    },
    addBytes(direction, bytes) {
      if (direction === 'to_vm') state.toVm += bytes;
      else state.toBrowser += bytes;
    },
  };
}
