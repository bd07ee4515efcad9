/** Opening and closing many browser sessions on a variant, and starting a variant for a run. */
import type { HostConn, StandInHost } from './stand-in-host.ts';
import type { BrowserSession } from './bench-browser.ts';
import type { Running, Variant } from './variants.ts';

export interface Result {
  name: string;
  skipped?: string;
  note?: string;
  /** Median over the latency rounds of this variant's p50. */
  p50Us?: number;
  /** Over all of this variant's latency samples. */
  p99Us?: number;
  /** Median over the rounds of (p50 − the pipe's p50 in the same pairing), µs. */
  p50DeltaUs?: number;
  /** Each round's Δp50, µs, in round order. */
  p50DeltasUs?: readonly number[];
  /** Exchanges/s of each throughput round, in round order. */
  throughputRounds?: readonly number[];
  /** CPU µs per exchange of each throughput round. */
  cpuRounds?: readonly number[];
  /** The pipe's p99 over the exchanges paired with this variant, µs. */
  pairedPipeP99Us?: number;
  throughput?: number;
  throughputSessions?: string;
  cpuUsPerExchange?: number;
  idleBytesPerSession?: number;
  idleOk?: number;
  idleTotal?: number;
  idleFailure?: string;
  errors: string[];
}

/** Opens sessions `from..to-1`; returns the ones whose ReaderAdd reached the host. */
export async function openSessions(
  run: Running,
  host: StandInHost,
  from: number,
  to: number,
  batch: number,
): Promise<{ ok: { browser: BrowserSession; host: HostConn }[]; failures: Map<string, number> }> {
  const ok: { browser: BrowserSession; host: HostConn }[] = [];
  const failures = new Map<string, number>();
  const fail = (why: string): void => {
    const key = why.slice(0, 100);
    failures.set(key, (failures.get(key) ?? 0) + 1);
  };
  for (let start = from; start < to; start += batch) {
    const idx = Array.from({ length: Math.min(batch, to - start) }, (_, k) => start + k);
    const results = await Promise.allSettled(
      idx.map(async (i) => {
        const browser = await run.connect(i);
        try {
          const h = await Promise.race([
            host.session(`s${i}`, 15_000),
            new Promise<never>((_, rej) => {
              const t = setInterval(() => {
                if (browser.failure !== undefined) {
                  clearInterval(t);
                  rej(new Error(browser.failure));
                }
              }, 50);
              setTimeout(() => clearInterval(t), 15_500);
            }),
          ]);
          return { browser, host: h };
        } catch (e) {
          browser.close();
          throw e;
        }
      }),
    );
    for (const r of results) {
      if (r.status === 'fulfilled') ok.push(r.value);
      else fail((r.reason as Error).message);
    }
  }
  return { ok, failures };
}

export function describeFailures(failures: Map<string, number>): string {
  return [...failures].map(([why, n]) => `${n}× ${why}`).join('; ');
}

export async function closeAll(
  sessions: { browser: BrowserSession; host: HostConn }[],
  host: StandInHost,
): Promise<void> {
  for (const s of sessions) s.browser.close();
  const end = Date.now() + 15_000;
  while (sessions.some((s) => !s.host.isClosed) && Date.now() < end)
    await new Promise((r) => setTimeout(r, 50));
  host.prune();
}

export type Started = { variant: Variant; run: Running; result: Result };

export async function startVariant(
  variant: Variant,
  hostPort: number,
  result: Result,
): Promise<Running | undefined> {
  try {
    const started = await variant.start(hostPort);
    if ('skipped' in started) {
      result.skipped = started.skipped;
      return undefined;
    }
    if (started.note !== undefined) result.note = started.note;
    return started;
  } catch (e) {
    result.skipped = `could not start: ${(e as Error).message}`;
    return undefined;
  }
}
