/**
 * A Chromium trace of the chain run, over the page's DevTools session: what the renderer's
 * main thread did (its tasks, and inside them script, GC, style, layout, paint), so the bench
 * can say which of the page's tasks the slowest guest APDUs waited behind. The page marks one
 * instant with performance.mark() and notes its epoch time, which maps trace time to epoch ms.
 */
import type { CdpPage } from './cdp.ts';

const CATEGORIES = [
  'toplevel',
  'devtools.timeline',
  'disabled-by-default-devtools.timeline',
  'blink.user_timing',
  'v8',
];

/** One task of the renderer's main thread, epoch ms, with the time its parts took. */
export interface MainTask {
  startMs: number;
  durMs: number;
  /** Time by event name inside the task (nested events counted where they begin), ms. */
  parts: Record<string, number>;
}

interface TraceEvent {
  name: string;
  cat?: string;
  ph: string;
  ts: number;
  dur?: number;
  pid: number;
  tid: number;
  args?: { name?: string };
}

export async function startTrace(page: CdpPage): Promise<void> {
  await page.call('Tracing.start', {
    transferMode: 'ReturnAsStream',
    traceConfig: { includedCategories: CATEGORIES, recordMode: 'recordAsMuchAsPossible' },
  });
}

/** Ends the trace and returns the page renderer's main-thread tasks (epoch ms). */
export async function stopTrace(page: CdpPage, rawFile?: string): Promise<MainTask[]> {
  const anchorEpochMs = (await page.evaluate(
    `(() => { performance.mark('cardlend-anchor'); return performance.timeOrigin + performance.getEntriesByName('cardlend-anchor').at(-1).startTime; })()`,
  )) as number;
  const complete = new Promise<string>((resolve) =>
    page.on('Tracing.tracingComplete', (p) => resolve(p['stream'] as string)),
  );
  await page.call('Tracing.end');
  const stream = await complete;
  const chunks: string[] = [];
  for (;;) {
    const r = (await page.call('IO.read', { handle: stream, size: 4 << 20 })) as {
      data: string;
      eof: boolean;
      base64Encoded?: boolean;
    };
    chunks.push(r.base64Encoded ? Buffer.from(r.data, 'base64').toString('utf8') : r.data);
    if (r.eof) break;
  }
  await page.call('IO.close', { handle: stream });
  const text = chunks.join('');
  if (rawFile !== undefined) (await import('node:fs')).writeFileSync(rawFile, text);
  const parsed = JSON.parse(text) as { traceEvents?: TraceEvent[] } | TraceEvent[];
  const events = Array.isArray(parsed) ? parsed : (parsed.traceEvents ?? []);
  return mainTasks(events, anchorEpochMs);
}

function mainTasks(events: readonly TraceEvent[], anchorEpochMs: number): MainTask[] {
  const anchor = events.find((e) => e.name === 'cardlend-anchor');
  if (anchor === undefined) return [];
  const main = events.find(
    (e) =>
      e.ph === 'M' &&
      e.name === 'thread_name' &&
      e.args?.name === 'CrRendererMain' &&
      e.pid === anchor.pid,
  );
  if (main === undefined) return [];
  const toEpoch = (ts: number): number => anchorEpochMs + (ts - anchor.ts) / 1000;
  const onMain = events
    .filter((e) => e.pid === main.pid && e.tid === main.tid && e.ph === 'X' && e.dur !== undefined)
    .sort((a, b) => a.ts - b.ts);
  const tasks: MainTask[] = [];
  let current: { task: MainTask; endTs: number } | null = null;
  for (const e of onMain) {
    const isTask = e.cat === 'toplevel' && (e.name === 'RunTask' || e.name.endsWith('::RunTask'));
    if (isTask && (current === null || e.ts >= current.endTs)) {
      current = {
        task: { startMs: toEpoch(e.ts), durMs: (e.dur ?? 0) / 1000, parts: {} },
        endTs: e.ts + (e.dur ?? 0),
      };
      tasks.push(current.task);
    } else if (current !== null && e.ts < current.endTs && !isTask) {
      current.task.parts[e.name] = (current.task.parts[e.name] ?? 0) + (e.dur ?? 0) / 1000;
    }
  }
  return tasks;
}

/** What kind of work a task was, by the part that took most of it. */
export function taskKind(t: MainTask): string {
  const p = t.parts;
  const sum = (...names: string[]): number => names.reduce((a, n) => a + (p[n] ?? 0), 0);
  const render = sum('Layout', 'Paint', 'PrePaint', 'UpdateLayoutTree', 'Layerize', 'Commit');
  const gc = sum('MinorGC', 'MajorGC', 'V8.GCIncrementalMarking', 'V8.GCIncrementalMarkingStart');
  const script = sum('v8.callFunction') - gc;
  if (render + gc + script < 0.5) return 'other';
  if (render >= gc && render >= script) return 'render';
  if (gc >= script) return 'gc';
  return p['TimerFire'] !== undefined ? 'timer-script' : 'script';
}

/** A slow APDU's wait before the page ran it: when the relay wrote it, when the page ran it. */
export interface PageWait {
  writtenAtMs: number;
  handledAtMs: number;
}

/**
 * Lines: the main thread's long tasks, and for each of the slowest APDUs what the main thread
 * was busy with while the APDU waited to reach the page's handler.
 */
export function describeTasks(tasks: readonly MainTask[], slowest: readonly PageWait[]): string[] {
  if (tasks.length === 0) return ['  trace: no renderer main-thread tasks found'];
  const long = tasks.filter((t) => t.durMs >= 2);
  const top = (parts: Record<string, number>): string =>
    Object.entries(parts)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 4)
      .map(([k, v]) => `${k} ${v.toFixed(1)}`)
      .join(', ');
  const kinds = new Map<string, number>();
  for (const t of long) kinds.set(taskKind(t), (kinds.get(taskKind(t)) ?? 0) + 1);
  const lines = [
    `  trace: ${tasks.length} main-thread tasks, ${long.length} ≥ 2 ms (${[...kinds].map(([k, n]) => `${k} ${n}`).join(', ')}), ${tasks.filter((t) => t.durMs >= 8).length} ≥ 8 ms`,
  ];
  const renders = tasks.filter((t) => taskKind(t) === 'render').map((t) => t.durMs);
  renders.sort((a, b) => a - b);
  const at = (q: number): string => (renders[Math.floor(renders.length * q)] ?? 0).toFixed(1);
  lines.push(`    render tasks: ${renders.length}, p50 ${at(0.5)} ms, p90 ${at(0.9)} ms`);
  for (const t of [...long].sort((a, b) => b.durMs - a.durMs).slice(0, 5))
    lines.push(`    task ${t.durMs.toFixed(1)} ms (${taskKind(t)}): ${top(t.parts)}`);
  const blame = new Map<string, number>();
  for (const w of slowest) {
    // Main-thread work in [written, handled), the APDU's own task excluded (it starts at handled).
    let busy = 0;
    let worst: MainTask | null = null;
    for (const t of tasks) {
      const from = Math.max(t.startMs, w.writtenAtMs);
      const to = Math.min(t.startMs + t.durMs, w.handledAtMs - 0.05);
      if (to <= from) continue;
      busy += to - from;
      if (worst === null || t.durMs > worst.durMs) worst = t;
    }
    const waited = w.handledAtMs - w.writtenAtMs;
    const kind = worst !== null && busy >= waited / 2 ? taskKind(worst) : 'main thread idle';
    blame.set(kind, (blame.get(kind) ?? 0) + 1);
  }
  lines.push(
    `    slowest APDUs (${slowest.length}) waited for the page behind: ${[...blame].map(([k, n]) => `${k} ${n}`).join(', ')}`,
  );
  return lines;
}
