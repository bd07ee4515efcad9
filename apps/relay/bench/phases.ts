/** The relay benchmark's phases: latency (in pairs with the bare pipe), throughput, idle memory. */
import { PARAMS, IDLE_BASE, THROUGHPUT_ROUNDS, LATENCY_ROUNDS } from './bench-params.ts';
import type { HostConn, StandInHost } from './stand-in-host.ts';
import type { BrowserSession } from './bench-browser.ts';
import type { Running, Variant } from './variants.ts';
import {
  type Result,
  openSessions,
  describeFailures,
  closeAll,
  type Started,
  startVariant,
} from './sessions.ts';
import { rotated, xorshift32, shuffled, phase, percentileOf, median } from './bench-math.ts';

/** Next free session index of the latency and throughput phases (the idle phase has its own). */
let nextSession = 0;

/** Interleaves one exchange per session, in a fresh random order each time; returns ns samples. */
async function interleave(
  sessions: readonly { host: HostConn }[],
  count: number,
  random: () => number,
): Promise<number[][]> {
  const samples = sessions.map(() => [] as number[]);
  const order = sessions.map((_, k) => k);
  for (let i = 0; i < count; i++) {
    for (const k of shuffled(order, random)) {
      const session = sessions[k];
      if (session !== undefined) samples[k]?.push(await session.host.exchange());
    }
  }
  return samples;
}

/**
 * 1. Latency at one session, each variant against the bare pipe (the floor). The phase runs
 * `LATENCY_ROUNDS` rounds; every round starts fresh processes, because one process keeps a
 * bias of a few µs for its whole life (where the scheduler places it, its JIT, its heap
 * layout), so one instance per variant is no dependable comparison on a 2-core machine. In a
 * round each variant is paired with that round's pipe and the two take turns, one exchange
 * each, in random order: a load change hits both alike, and no third variant (websockify's
 * forked Python processes, above all) runs between them and cools their caches. The table
 * shows a variant's median of its per-round p50s, its p99 over all its samples, and its Δp50:
 * the median over the rounds of (its p50 − the pipe's p50 in the same pairing).
 */
export async function latencyPhase(
  variants: readonly { variant: Variant; result: Result }[],
  host: StandInHost,
  hostPort: number,
): Promise<void> {
  const perRound = Math.ceil(PARAMS.exchanges / LATENCY_ROUNDS);
  const done = phase(
    `latency (1 session, ${LATENCY_ROUNDS} rounds with fresh processes × ${perRound} exchanges, each variant in turn with the pipe, random order)`,
  );
  const pipe = variants.find((v) => v.variant.name.startsWith('(b)'));
  const others = variants.filter((v) => v !== pipe);
  const stats = new Map<
    Result,
    { p50s: number[]; deltas: number[]; samples: number[]; pipeSamples: number[] }
  >();
  for (const v of variants)
    stats.set(v.result, { p50s: [], deltas: [], samples: [], pipeSamples: [] });
  const random = xorshift32(0x9e3779b9);
  const start = async (v: { variant: Variant; result: Result }): Promise<Running | undefined> => {
    const scratch: Result = { name: v.result.name, errors: [] };
    const run = await startVariant(v.variant, hostPort, scratch);
    if (run === undefined) v.result.errors.push(`latency: ${scratch.skipped ?? 'did not start'}`);
    return run;
  };
  const openOne = async (
    run: Running,
    result: Result,
  ): Promise<{ browser: BrowserSession; host: HostConn } | undefined> => {
    const one = await openSessions(run, host, nextSession, nextSession + 1, 1);
    nextSession++;
    const first = one.ok[0];
    if (first === undefined) result.errors.push(`latency: ${describeFailures(one.failures)}`);
    else for (let i = 0; i < PARAMS.warmup; i++) await first.host.exchange();
    return first;
  };
  for (let round = 0; round < LATENCY_ROUNDS; round++) {
    const pipeRun = pipe === undefined ? undefined : await start(pipe);
    // Without the pipe (--only without b) a variant is measured alone.
    const partners = others.length > 0 ? shuffled(others, random) : pipe ? [pipe] : [];
    for (const v of partners) {
      const run = v === pipe ? pipeRun : await start(v);
      if (run === undefined) continue;
      const mine = await openOne(run, v.result);
      const floor =
        v !== pipe && pipe !== undefined && pipeRun !== undefined
          ? await openOne(pipeRun, pipe.result)
          : undefined;
      const pair = [mine, floor].filter((x) => x !== undefined);
      const [own = [], floorSamples] = await interleave(pair, perRound, random);
      const st = stats.get(v.result);
      if (mine !== undefined && st !== undefined && own.length > 0) {
        const p50 = percentileOf(own, 50);
        st.p50s.push(p50);
        st.samples.push(...own);
        if (floorSamples !== undefined && floorSamples.length > 0 && pipe !== undefined) {
          const floorP50 = percentileOf(floorSamples, 50);
          st.deltas.push(p50 - floorP50);
          st.pipeSamples.push(...floorSamples);
          const pst = stats.get(pipe.result);
          pst?.p50s.push(floorP50);
          pst?.samples.push(...floorSamples);
        }
      }
      await closeAll(pair, host);
      if (v !== pipe) await run.stop();
    }
    await pipeRun?.stop();
  }
  for (const [result, st] of stats) {
    if (st.samples.length === 0) continue;
    result.p50Us = median(st.p50s) / 1000;
    result.p99Us = percentileOf(st.samples, 99) / 1000;
    if (st.deltas.length > 0) {
      result.p50DeltaUs = median(st.deltas) / 1000;
      result.p50DeltasUs = st.deltas.map((d) => d / 1000);
      result.pairedPipeP99Us = percentileOf(st.pipeSamples, 99) / 1000;
    }
  }
  done();
}

/** Opens each variant's throughput sessions and warms them (20 exchanges each). */
async function openWarmSessions(
  all: readonly Started[],
  host: StandInHost,
): Promise<Map<Started, { browser: BrowserSession; host: HostConn }[]>> {
  const open = new Map<Started, { browser: BrowserSession; host: HostConn }[]>();
  for (const s of all) {
    const many = await openSessions(
      s.run,
      host,
      nextSession,
      nextSession + PARAMS.sessions,
      PARAMS.sessions,
    );
    nextSession += PARAMS.sessions;
    s.result.throughputSessions = `${many.ok.length}/${PARAMS.sessions}`;
    if (many.failures.size > 0)
      s.result.errors.push(`${PARAMS.sessions} sessions: ${describeFailures(many.failures)}`);
    if (many.ok.length > 0) {
      open.set(s, many.ok);
      await Promise.all(
        many.ok.map(async (x) => {
          for (let i = 0; i < 20; i++) await x.host.exchange();
        }),
      );
    }
  }
  return open;
}

/** 2. Throughput and relay CPU at 64 sessions: interleaved rounds, totals summed. */
export async function throughputPhase(all: Started[], host: StandInHost): Promise<void> {
  const done = phase(
    `throughput (${PARAMS.sessions} sessions, ${THROUGHPUT_ROUNDS} × ${PARAMS.throughputMs / THROUGHPUT_ROUNDS} ms each)`,
  );
  const open = await openWarmSessions(all, host);
  const totals = new Map<
    Started,
    {
      exchanges: number;
      seconds: number;
      cpuUs: number;
      hasCpu: boolean;
      /** Per round: exchanges/s, and CPU µs per exchange. */
      rates: number[];
      cpuPerExchange: number[];
    }
  >();
  for (let round = 0; round < THROUGHPUT_ROUNDS; round++) {
    for (const s of rotated(all, round)) {
      const list = open.get(s);
      if (list === undefined) continue;
      const before = await s.run.stats();
      const t0 = performance.now();
      const end = t0 + PARAMS.throughputMs / THROUGHPUT_ROUNDS;
      const counts = await Promise.all(
        list.map(async (x) => {
          let n = 0;
          while (performance.now() < end) {
            await x.host.exchange();
            n++;
          }
          return n;
        }),
      );
      const seconds = (performance.now() - t0) / 1000;
      const after = await s.run.stats();
      const t = totals.get(s) ?? {
        exchanges: 0,
        seconds: 0,
        cpuUs: 0,
        hasCpu: false,
        rates: [],
        cpuPerExchange: [],
      };
      const exchanges = counts.reduce((a, b) => a + b, 0);
      t.exchanges += exchanges;
      t.seconds += seconds;
      t.rates.push(exchanges / seconds);
      if (before !== null && after !== null) {
        t.cpuUs += after.cpuUs - before.cpuUs;
        t.hasCpu = true;
        t.cpuPerExchange.push((after.cpuUs - before.cpuUs) / Math.max(1, exchanges));
      }
      totals.set(s, t);
    }
  }
  for (const [s, t] of totals) {
    s.result.throughput = t.exchanges / t.seconds;
    s.result.throughputRounds = t.rates;
    if (t.hasCpu) {
      s.result.cpuUsPerExchange = t.cpuUs / t.exchanges;
      s.result.cpuRounds = t.cpuPerExchange;
    }
  }
  for (const list of open.values()) await closeAll(list, host);
  done();
}

/** 3. Memory per idle session in a fresh relay process, and every idle session still answers. */
export async function idlePhase(s: Started, host: StandInHost, hostPort: number): Promise<void> {
  const count = s.run.idleSessions;
  const done = phase(`${s.variant.name}: ${count} idle sessions (fresh process)`);
  await s.run.stop();
  const restart: Result = { name: s.variant.name, errors: [] };
  const run = await startVariant(s.variant, hostPort, restart);
  if (run === undefined) {
    s.result.errors.push(`idle phase: ${restart.skipped ?? 'could not restart'}`);
    done();
    return;
  }
  s.run = run;
  await new Promise((r) => setTimeout(r, 300));
  const base = await run.stats();
  // Every variant's idle sessions use the same indices, after those of the earlier phases.
  const idle = await openSessions(run, host, IDLE_BASE, IDLE_BASE + count, 250);
  await new Promise((r) => setTimeout(r, 1000));
  const loaded = await run.stats();
  let alive = 0;
  const lost = new Map<string, number>(idle.failures);
  for (let k = 0; k < idle.ok.length; k += 500) {
    const part = idle.ok.slice(k, k + 500);
    const rs = await Promise.allSettled(part.map((x) => x.host.exchange()));
    rs.forEach((r, j) => {
      const why = part[j]?.browser.failure;
      if (r.status === 'fulfilled' && why === undefined) alive++;
      else {
        const key = why ?? (r.status === 'rejected' ? (r.reason as Error).message : 'failed');
        lost.set(key, (lost.get(key) ?? 0) + 1);
      }
    });
  }
  s.result.idleOk = alive;
  s.result.idleTotal = count;
  if (lost.size > 0) s.result.idleFailure = describeFailures(lost);
  if (base !== null && loaded !== null && idle.ok.length > 0) {
    s.result.idleBytesPerSession = (loaded.memBytes - base.memBytes) / idle.ok.length;
  }
  await closeAll(idle.ok, host);
  done();
}
