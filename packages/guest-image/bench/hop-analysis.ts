/**
 * Splits each guest APDU's trip through the chain into hops, from the relay's probe log
 * (hop-probe.ts, relay clock) and the page's own times (WebSocket message → answer send(),
 * page clock; both clocks are the machine's wall clock read through performance.timeOrigin).
 * Pure; the chain bench prints what it returns.
 */
import { HOP, type ProbeLog } from './hop-kinds.ts';

/** One guest APDU's hops, ms. */
export interface Hops {
  /** QEMU's whole message read → first byte written to the browser's socket. */
  relayOut: number;
  /** Written to the browser's socket → the page's message handler runs. */
  toPage: number;
  /** The page's handler → the answer's send(). */
  page: number;
  /** The answer's send() → its bytes read by the relay. */
  fromPage: number;
  /** Read from the browser → the answer written to QEMU. */
  relayBack: number;
  /**
   * The browser's whole share: written to the browser's socket → the answer read back (relay
   * clock only): toPage + page + fromPage.
   */
  browser: number;
  /** QEMU's message read → the answer written to QEMU: everything the chain adds but QEMU. */
  total: number;
  /** When QEMU's message was read (epoch ms). */
  atMs: number;
}

/** The page's record of one guest APDU (epoch ms). */
export interface PageSample {
  msgAt: number;
  sendAt: number;
}

/** Pairs the relay's APDUs with the page's, in order (one outstanding guest command at a time). */
export function pairHops(log: ProbeLog, page: readonly PageSample[]): Hops[] {
  const hops: Hops[] = [];
  const { at, kinds } = log;
  let p = 0;
  let i = 0;
  const next = (kind: number, from: number): number => {
    let j = from;
    while (j < kinds.length && kinds[j] !== kind) j++;
    return j;
  };
  for (;;) {
    const inAt = next(HOP.vmApduIn, i);
    const out = next(HOP.browserOut, inAt + 1);
    const back = next(HOP.browserIn, out + 1);
    const vmOut = next(HOP.vmApduOut, back + 1);
    const sample = page[p++];
    if (vmOut >= kinds.length || sample === undefined) break;
    const t = (k: number): number => at[k] as number;
    hops.push({
      relayOut: t(out) - t(inAt),
      toPage: sample.msgAt - t(out),
      page: sample.sendAt - sample.msgAt,
      fromPage: t(back) - sample.sendAt,
      relayBack: t(vmOut) - t(back),
      browser: t(back) - t(out),
      total: t(vmOut) - t(inAt),
      atMs: t(inAt),
    });
    i = vmOut + 1;
  }
  return hops;
}

const SEGMENTS = [
  'relayOut',
  'toPage',
  'page',
  'fromPage',
  'relayBack',
  'browser',
  'total',
] as const;

/** The `q` quantile (0..1) of `values` (nearest rank on a sorted copy). */
export function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))] ?? Number.NaN;
}

/** Lines describing the hops: percentiles per hop, and what the slowest 1 % spent where. */
export function describeHops(hops: readonly Hops[], gc: ProbeLog['gc']): string[] {
  if (hops.length === 0) return ['  hops: no APDU could be paired'];
  const f = (v: number): string => v.toFixed(2).padStart(7);
  const lines = [`  hops (ms, n=${hops.length}; relay clock vs page clock for toPage/fromPage):`];
  lines.push(`    ${'hop'.padEnd(10)}     p50     p90     p99     max`);
  for (const s of SEGMENTS) {
    const v = hops.map((h) => h[s]);
    lines.push(
      `    ${s.padEnd(10)} ${f(quantile(v, 0.5))} ${f(quantile(v, 0.9))} ${f(quantile(v, 0.99))} ${f(Math.max(...v))}`,
    );
  }
  const cut = quantile(
    hops.map((h) => h.total),
    0.99,
  );
  const tail = hops.filter((h) => h.total >= cut);
  const mean = (s: (typeof SEGMENTS)[number]): string =>
    (tail.reduce((a, h) => a + h[s], 0) / tail.length).toFixed(2);
  lines.push(
    `    slowest 1 % (total ≥ ${cut.toFixed(2)} ms, n=${tail.length}), mean per hop: ` +
      SEGMENTS.map((s) => `${s} ${mean(s)}`).join(', '),
  );
  const overlapsGc = tail.filter((h) =>
    gc.some(([start, dur]) => start < h.atMs + h.total && start + dur > h.atMs),
  ).length;
  const gcMs = gc.map(([, d]) => d);
  lines.push(
    `    relay GC: ${gc.length} pauses, p50 ${quantile(gcMs, 0.5).toFixed(2)} ms, max ${Math.max(0, ...gcMs).toFixed(2)} ms; slowest 1 % overlapping one: ${overlapsGc}/${tail.length}`,
  );
  return lines;
}
