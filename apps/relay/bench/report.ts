/** The relay benchmark's report: a table of the figures and the targets of (d) against (b). */
import { isQuick, PARAMS, LATENCY_ROUNDS } from './bench-params.ts';
import type { Result } from './sessions.ts';
import { median } from './bench-math.ts';

function fmt(n: number | undefined, digits = 1): string {
  return n === undefined || !Number.isFinite(n) ? '—' : n.toFixed(digits);
}

function signed(n: number): string {
  return `${n >= 0 ? '+' : ''}${fmt(n)}`;
}

/** Prints the figures, the problems and the targets of (d) against (b); whether all were met. */
export function report(results: Result[]): boolean {
  printTable(results);
  printProblems(results);
  const pipe = results.find((r) => r.name.startsWith('(b)'));
  const relay = results.find((r) => r.name.startsWith('(d)'));
  if (
    pipe === undefined ||
    relay === undefined ||
    relay.skipped !== undefined ||
    pipe.skipped !== undefined
  ) {
    console.log('\ntargets: not evaluated (the bare pipe or the relay did not run)');
    return false;
  }
  return checkTargets(relay, pipe);
}

/** One row per variant: latency, throughput, CPU and idle memory. */
function printTable(results: readonly Result[]): void {
  const rows = [
    [
      'variant',
      'p50 µs',
      'Δp50 µs',
      'p99 µs',
      'exch/s @64',
      'sessions',
      'CPU µs/exch',
      'idle KiB/sess',
      'idle ok',
    ],
    ...results.map((r) =>
      r.skipped !== undefined
        ? [r.name, `skipped: ${r.skipped}`]
        : [
            r.name,
            fmt(r.p50Us),
            r.p50DeltaUs === undefined ? '—' : signed(r.p50DeltaUs),
            fmt(r.p99Us),
            fmt(r.throughput, 0),
            r.throughputSessions ?? '—',
            fmt(r.cpuUsPerExchange),
            fmt(r.idleBytesPerSession === undefined ? undefined : r.idleBytesPerSession / 1024),
            r.idleTotal === undefined ? '—' : `${r.idleOk ?? 0}/${r.idleTotal}`,
          ],
    ),
  ];
  const widths = rows[0]?.map((_, i) =>
    Math.max(...rows.map((row) => (row.length > 2 || i < 2 ? (row[i] ?? '').length : 0))),
  );
  console.log('');
  for (const row of rows) {
    if (row.length === 2)
      console.log(`${(row[0] ?? '').padEnd(widths?.[0] ?? 0)}  ${row[1] ?? ''}`);
    else
      console.log(
        row
          .map((c, i) => (i === 0 ? c.padEnd(widths?.[i] ?? 0) : c.padStart(widths?.[i] ?? 0)))
          .join('  '),
      );
  }
}

function printProblems(results: readonly Result[]): void {
  for (const r of results) {
    if (r.note !== undefined) console.log(`note ${r.name}: ${r.note}`);
    for (const e of r.errors) console.log(`problem ${r.name}: ${e}`);
    if (r.idleFailure !== undefined)
      console.log(`problem ${r.name}: idle sessions: ${r.idleFailure}`);
  }
}

/** Prints one target, met or missed, and returns whether it was met. */
function check(
  label: string,
  value: number | undefined,
  floor: number | undefined,
  ok: (v: number, f: number) => boolean,
  shown: string,
): boolean {
  const isMet =
    value !== undefined &&
    floor !== undefined &&
    Number.isFinite(value) &&
    Number.isFinite(floor) &&
    ok(value, floor);
  console.log(`  ${isMet ? 'MET   ' : 'MISSED'} ${label}: ${shown}`);
  return isMet;
}

/** The targets of the relay (d) against the bare pipe (b). */
function checkTargets(relay: Result, pipe: Result): boolean {
  // Same-round ratios: both variants ran within seconds of each other under the same load.
  const roundRatios = (mine: readonly number[] = [], floor: readonly number[] = []): number[] =>
    mine.slice(0, floor.length).map((v, k) => v / (floor[k] ?? NaN));
  const cpuRatios = roundRatios(relay.cpuRounds, pipe.cpuRounds);
  const rateRatios = roundRatios(relay.throughputRounds, pipe.throughputRounds);
  const cpuRatio = median(cpuRatios);
  const rateRatio = median(rateRatios);
  console.log(`\ntargets for (d) against (b)${isQuick ? ' (quick run: indicative only)' : ''}:`);
  const met = [
    check(
      'p50 within 5 µs of the bare pipe',
      relay.p50DeltaUs,
      0,
      (v) => v <= 5,
      relay.p50DeltaUs === undefined
        ? '—'
        : `${signed(relay.p50DeltaUs)} µs, median of ${LATENCY_ROUNDS} rounds with fresh processes (${(relay.p50DeltasUs ?? []).map(signed).join(', ')})`,
    ),
    check(
      'p99 within 1.5×',
      relay.p99Us,
      relay.pairedPipeP99Us,
      (v, f) => v <= 1.5 * f,
      `${fmt((relay.p99Us ?? NaN) / (relay.pairedPipeP99Us ?? NaN), 2)}× (${fmt(relay.p99Us)} vs ${fmt(relay.pairedPipeP99Us)} µs in the same pairings)`,
    ),
    check(
      'CPU per exchange within 1.3×',
      cpuRatio,
      1,
      (v) => v <= 1.3,
      `${fmt(cpuRatio, 2)}×, median of ${cpuRatios.length} rounds (${cpuRatios.map((r) => fmt(r, 2)).join(', ')})`,
    ),
    check(
      'throughput ≥ 85% of the bare pipe',
      rateRatio,
      1,
      (v) => v >= 0.85 && relay.throughputSessions === `${PARAMS.sessions}/${PARAMS.sessions}`,
      `${fmt(100 * rateRatio, 0)}% with ${relay.throughputSessions ?? '0'} sessions, median of ${rateRatios.length} rounds (${rateRatios.map((r) => `${fmt(100 * r, 0)}%`).join(', ')})`,
    ),
    check(
      'idle memory within 1.5×',
      relay.idleBytesPerSession,
      pipe.idleBytesPerSession,
      (v, f) => v <= 1.5 * f,
      `${fmt((relay.idleBytesPerSession ?? NaN) / (pipe.idleBytesPerSession ?? NaN), 2)}×`,
    ),
    check(
      `${PARAMS.idle} idle sessions with no failure`,
      relay.idleOk,
      PARAMS.idle,
      (v, f) => v === f && relay.idleFailure === undefined,
      `${relay.idleOk ?? 0}/${PARAMS.idle}`,
    ),
  ];
  const n = met.filter(Boolean).length;
  console.log(`  ${n}/${met.length} targets met`);
  return n === met.length;
}
