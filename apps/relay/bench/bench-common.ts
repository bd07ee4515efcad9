/**
 * Shared pieces of the relay benchmark (bench/relay-bench.ts): the VSCard messages of one
 * APDU exchange, the child-process stats protocol, and /proc readers for non-Node relays.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { encodeMessage } from '@cardlend/vscard';

/** The guest command of every exchange: SELECT by AID (ISO 7816-4 §11.1.1), 13 data bytes. */
export const GUEST_APDU = encodeMessage({
  type: 'APDU',
  readerId: 0,
  apdu: Uint8Array.from([
    0x00, 0xa4, 0x04, 0x00, 0x08, 0xa0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x10, 0x00,
  ]),
});

/** The browser's answer: 64 data bytes + SW 9000, a typical short response. */
export const CARD_ANSWER = encodeMessage({
  type: 'APDU',
  readerId: 0,
  apdu: Uint8Array.from([...new Array<number>(64).fill(0x5a), 0x90, 0x00]),
});

/** The host's reply to every Init, as QEMU sends it (reader 0xFFFFFFFF, version 2, caps [0]). */
export const HOST_INIT = encodeMessage({
  type: 'Init',
  readerId: 0xffffffff,
  magic: Uint8Array.from(Buffer.from('VSCD', 'latin1')),
  version: 2,
  capabilities: [0],
});

/** Host acknowledgement of a control message (VSC_Error with code 0, vscard-protocol §5). */
export const HOST_ACK = encodeMessage({ type: 'Error', readerId: 0, code: 0 });

/** Messages between the bench and a Node relay child (process.send IPC). */
export type ChildMessage =
  | { readonly type: 'ready'; readonly port: number }
  | {
      readonly type: 'stats';
      /** process.cpuUsage() user + system since the child started, µs. */
      readonly cpuUs: number;
      /** process.memoryUsage().rss after a full GC, bytes. */
      readonly rssBytes: number;
      readonly heapUsedBytes: number;
    };

/** Requests from the bench to a child. */
export type ParentMessage = { readonly type: 'stats' } | { readonly type: 'stop' };

/** Serves the stats protocol in a child (run with --expose-gc). */
export function serveChildIpc(port: number, stop: () => Promise<void>): void {
  const send = (m: ChildMessage): void => {
    process.send?.(m);
  };
  process.on('message', (m: ParentMessage) => {
    if (m.type === 'stats') {
      const gc = (globalThis as { gc?: () => void }).gc;
      gc?.();
      gc?.();
      const cpu = process.cpuUsage();
      const mem = process.memoryUsage();
      send({
        type: 'stats',
        cpuUs: cpu.user + cpu.system,
        rssBytes: mem.rss,
        heapUsedBytes: mem.heapUsed,
      });
    } else if (m.type === 'stop') {
      const t = setTimeout(() => process.exit(0), 3000);
      t.unref();
      void stop().finally(() => process.exit(0));
    }
  });
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready', port });
}

const CLOCK_TICKS_PER_SECOND = 100; // USER_HZ on Linux (sysconf(_SC_CLK_TCK))

function readStat(pid: number): { ppid: number; cpuTicks: number } | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name (proc(5)): state ppid ... utime(14) stime(15) cutime(16) cstime(17).
    const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
    const n = (i: number): number => Number(rest[i - 3] ?? 0);
    return { ppid: n(4), cpuTicks: n(14) + n(15) + n(16) + n(17) };
  } catch {
    return null;
  }
}

/** `pid` and all its live descendants. */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = readStat(Number(name));
    if (s === null) continue;
    const list = children.get(s.ppid) ?? [];
    list.push(Number(name));
    children.set(s.ppid, list);
  }
  const out: number[] = [];
  const walk = (p: number): void => {
    out.push(p);
    for (const c of children.get(p) ?? []) walk(c);
  };
  walk(pid);
  return out;
}

/** CPU time of a process tree (including reaped children), µs, from /proc (10 ms resolution). */
export function treeCpuUs(pid: number): number {
  let ticks = 0;
  for (const p of processTree(pid)) ticks += readStat(p)?.cpuTicks ?? 0;
  return (ticks * 1e6) / CLOCK_TICKS_PER_SECOND;
}

/** Proportional set size of a process tree, bytes (fair for forked workers sharing pages). */
export function treePssBytes(pid: number): number {
  let kib = 0;
  for (const p of processTree(pid)) {
    try {
      const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${p}/smaps_rollup`, 'utf8'));
      kib += Number(m?.[1] ?? 0);
    } catch {
      // The process ended meanwhile.
    }
  }
  return kib * 1024;
}

/** Percentile of a sorted array (nearest rank). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return (
    sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ??
    Number.NaN
  );
}
