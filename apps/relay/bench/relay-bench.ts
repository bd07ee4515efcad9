/**
 * Relay benchmark (issue 6, "Proof"): in one run, side by side,
 *   (a) a direct TCP client of the VSCard host (no relay),
 *   (b) a bare Node ws⇄net pipe (the floor),
 *   (c) Debian's websockify (skipped with a note when not installed),
 *   (d) this relay (apps/relay/src/server.ts), in a child process.
 * The bench plays QEMU: a stand-in VSCard host (a net server here) sends VSC_APDU guest
 * commands; the WebSocket client plays the browser and answers each at once. One round
 * trip = one APDU exchange through the relay. Loopback only; every loop is bounded; the
 * whole run has a watchdog.
 *
 * Prints p50/p99 round trip at 1 session (and each variant's p50 over the bare pipe's, measured
 * in pairs over several rounds with fresh processes: see `latencyPhase`), exchanges/s at 64
 * sessions, relay CPU per exchange (of the relay process only), memory per idle session with
 * 9 000 idle sessions, and whether (d) meets the targets against (b).
 *
 * Usage: pnpm --filter @cardlend/relay bench [-- --quick] [-- --strict]
 *   --quick   smoke run (few exchanges, 300 idle sessions)
 *   --strict  exit 1 when a target is missed
 *   --only=b,d  run only these variants
 *   --idle=N    idle sessions for the memory phase (default 9 000, 300 with --quick)
 *   --profile=DIR  each Node child (pipe, relay) writes a V8 CPU profile into DIR
 *
 * Last, resident memory at start: the shipped build (dist/main.js) and the relay through tsx
 * against the bare pipe (bench/start-rss.ts).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { cpus, loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  RELAY_PATH,
  RELAY_SUBPROTOCOL,
  RELAY_TOKEN_SUBPROTOCOL_PREFIX,
  VSC,
  VscardFramer,
} from '@cardlend/vscard';
import WebSocket from 'ws';
import { mintToken } from '../src/auth/tokens.ts';
import {
  CARD_ANSWER,
  GUEST_APDU,
  HOST_ACK,
  percentile,
  treeCpuUs,
  treePssBytes,
  type ChildMessage,
} from './bench-common.ts';
import { measureStartRss, reportStartRss } from './start-rss.ts';

const args = new Set(process.argv.slice(2));
const isQuick = args.has('--quick');
const isStrict = args.has('--strict');
/** `--only=b,d`: run only these variants (letters). */
const only = (() => {
  const a = process.argv.find((x) => x.startsWith('--only='));
  return a === undefined ? undefined : new Set(a.slice('--only='.length).split(','));
})();
/**
 * `warmup`: exchanges on each latency session before it is timed. A fresh process needs a
 * few thousand before V8 has compiled its message path: p50 per 1 000 exchanges settled after
 * about 3 000 for the pipe and 5 000–6 000 for the relay (with 1 000 the relay stayed 10–15 µs
 * above its warm p50). `exchanges`: timed exchanges per variant over all latency rounds.
 */
const PARAMS = isQuick
  ? {
      warmup: 6000,
      exchanges: 1500,
      sessions: 64,
      throughputMs: 500,
      idle: 300,
      websockifyIdle: 50,
    }
  : {
      warmup: 8000,
      exchanges: 10_000,
      sessions: 64,
      throughputMs: 5000,
      idle: 9000,
      websockifyIdle: 300,
    };
/** `--idle=N` overrides the idle session count (e.g. a quick run with a steadier memory figure). */
{
  const a = process.argv.find((x) => x.startsWith('--idle='));
  const n = a === undefined ? undefined : Number(a.slice('--idle='.length));
  if (n !== undefined) {
    if (!Number.isInteger(n) || n < 1 || n > 20_000) {
      console.error('relay-bench: --idle=N needs an integer in 1..20000');
      process.exit(2);
    }
    PARAMS.idle = n;
  }
}
/** First session index of the idle phase (the latency and throughput phases use the ones before). */
const IDLE_BASE = 8 * (1 + PARAMS.sessions);
/**
 * Throughput rounds; the variants take turns within each (order rotated), and the CPU and
 * throughput targets use the median over the rounds of the relay's ratio to the pipe's
 * figure in the same round, so one round disturbed by the shared machine does not decide.
 */
const THROUGHPUT_ROUNDS = isQuick ? 1 : 5;
/** Latency rounds, each with fresh processes (see `latencyPhase`). */
const LATENCY_ROUNDS = isQuick ? 3 : 5;
const WATCHDOG_MS = isQuick ? 180_000 : 540_000;
const FD_LIMIT = 65_536;
const here = path.dirname(fileURLToPath(import.meta.url));
const relayDir = path.resolve(here, '..');

// ---------------------------------------------------------------- file descriptors
// 9 000 sessions hold 18 000 sockets in this process (clients + host side): re-exec under a raised limit.
function currentFdLimit(): number {
  const r = spawnSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' });
  const n = Number(r.stdout.trim());
  return r.stdout.trim() === 'unlimited' ? Infinity : Number.isFinite(n) ? n : 0;
}
if (process.env['CARDLEND_BENCH_CHILD'] !== '1' && currentFdLimit() < 2 * PARAMS.idle + 1000) {
  const argv = [...process.execArgv, ...process.argv.slice(1)];
  const quoted = argv.map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(' ');
  const r = spawnSync(
    'bash',
    ['-c', `ulimit -n ${FD_LIMIT} && exec '${process.execPath}' ${quoted}`],
    {
      stdio: 'inherit',
      env: { ...process.env, CARDLEND_BENCH_CHILD: '1' },
    },
  );
  process.exit(r.status ?? 1);
}
const watchdog = setTimeout(() => {
  console.error(`relay-bench: watchdog: not done after ${WATCHDOG_MS / 1000} s, giving up`);
  for (const c of children) c.kill('SIGKILL');
  process.exit(1);
}, WATCHDOG_MS);
watchdog.unref();
const children = new Set<ChildProcess>();

// ---------------------------------------------------------------- stand-in VSCard host ("QEMU")
/** One connection to the host: it sends guest commands and times the answers. */
class HostConn {
  readonly #socket: net.Socket;
  readonly #framer = new VscardFramer();
  #pending: { resolve: (ns: number) => void; reject: (e: Error) => void; t0: bigint } | undefined;
  isClosed = false;

  constructor(socket: net.Socket, onReaderAdd: (name: string, conn: HostConn) => void) {
    this.#socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      let frames;
      try {
        frames = this.#framer.push(chunk);
      } catch {
        socket.destroy();
        return;
      }
      for (const f of frames) {
        if (f.type === VSC.APDU) {
          const p = this.#pending;
          this.#pending = undefined;
          p?.resolve(Number(process.hrtime.bigint() - p.t0));
        } else if (f.type === VSC.ReaderAdd) {
          socket.write(HOST_ACK);
          onReaderAdd(Buffer.from(f.bytes.subarray(12)).toString('utf8'), this);
        } else if (f.type === VSC.ATR || f.type === VSC.CardRemove || f.type === VSC.ReaderRemove) {
          socket.write(HOST_ACK);
        }
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.isClosed = true;
      this.#pending?.reject(new Error('host connection closed'));
      this.#pending = undefined;
    });
  }

  /** Sends one guest APDU; resolves with the round trip, ns. */
  exchange(): Promise<number> {
    return new Promise((resolve, reject) => {
      if (this.isClosed) return reject(new Error('host connection closed'));
      this.#pending = { resolve, reject, t0: process.hrtime.bigint() };
      this.#socket.write(GUEST_APDU);
    });
  }
}

class StandInHost {
  readonly server = net.createServer({ noDelay: true }, (s) => {
    this.conns.add(new HostConn(s, (name, conn) => this.#onSession(name, conn)));
  });
  readonly conns = new Set<HostConn>();
  readonly #sessions = new Map<string, HostConn>();
  readonly #waiters = new Map<string, (c: HostConn) => void>();

  async listen(): Promise<number> {
    this.server.maxConnections = 100_000;
    await new Promise<void>((r) =>
      this.server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, r),
    );
    return (this.server.address() as net.AddressInfo).port;
  }

  #onSession(name: string, conn: HostConn): void {
    const w = this.#waiters.get(name);
    this.#waiters.delete(name);
    if (w) w(conn);
    else this.#sessions.set(name, conn);
  }

  /** The host side of session `name` (its ReaderAdd name), once its ReaderAdd arrived. */
  session(name: string, timeoutMs: number): Promise<HostConn> {
    const c = this.#sessions.get(name);
    if (c) {
      this.#sessions.delete(name);
      return Promise.resolve(c);
    }
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.#waiters.delete(name);
        reject(new Error(`session ${name} never reached the host`));
      }, timeoutMs);
      this.#waiters.set(name, (conn) => {
        clearTimeout(t);
        resolve(conn);
      });
    });
  }

  prune(): void {
    for (const c of this.conns) if (c.isClosed) this.conns.delete(c);
  }
}

// ---------------------------------------------------------------- the "browser"
interface BrowserSession {
  close(): void;
  /** Set when the session ended before the bench closed it (code and reason). */
  readonly failure: string | undefined;
}

function readerAdd(name: string): Uint8Array {
  const nameBytes = Buffer.from(name, 'utf8');
  const m = Buffer.alloc(12 + nameBytes.length);
  m.writeUInt32BE(VSC.ReaderAdd, 0);
  m.writeUInt32BE(0, 4);
  m.writeUInt32BE(nameBytes.length, 8);
  nameBytes.copy(m, 12);
  return m;
}
const INIT = (() => {
  const m = Buffer.alloc(12 + 12);
  m.writeUInt32BE(VSC.Init, 0);
  m.writeUInt32BE(0, 4);
  m.writeUInt32BE(12, 8);
  m.write('VSCD', 12, 'latin1');
  m.writeUInt32BE(2, 16); // version 0.0.2
  m.writeUInt32BE(0, 20); // capabilities
  return m;
})();

/** Answers every guest APDU in `chunk` (which may hold part of one or several messages). */
function answerer(send: (b: Uint8Array) => void): (chunk: Uint8Array) => void {
  const framer = new VscardFramer();
  return (chunk) => {
    for (const f of framer.push(chunk)) if (f.type === VSC.APDU) send(CARD_ANSWER);
  };
}

function openWsBrowser(
  url: string,
  protocols: string[],
  name: string,
  timeoutMs: number,
): Promise<BrowserSession> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, {
      perMessageDeflate: false,
      handshakeTimeout: timeoutMs,
    });
    let failure: string | undefined;
    let isClosing = false;
    let isOpen = false;
    ws.binaryType = 'nodebuffer';
    const onData = answerer((b) => ws.send(b));
    ws.on('message', (d: Buffer) => onData(d));
    ws.on('error', (e) => {
      failure ??= `error: ${e.message}`;
      if (!isOpen) reject(new Error(failure));
    });
    ws.on('close', (code, reason) => {
      if (!isClosing) failure ??= `closed ${code} ${reason.toString()}`;
      if (!isOpen) reject(new Error(failure ?? 'closed'));
    });
    ws.on('open', () => {
      isOpen = true;
      ws.send(INIT);
      ws.send(readerAdd(name));
      resolve({
        close: () => {
          isClosing = true;
          ws.terminate();
        },
        get failure() {
          return failure;
        },
      });
    });
  });
}

function openTcpBrowser(port: number, name: string): Promise<BrowserSession> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port, noDelay: true });
    let failure: string | undefined;
    let isClosing = false;
    const onData = answerer((b) => s.write(b));
    s.on('data', onData);
    s.on('error', (e) => {
      failure ??= `error: ${e.message}`;
      reject(e);
    });
    s.on('close', () => {
      if (!isClosing) failure ??= 'closed';
    });
    s.on('connect', () => {
      s.write(INIT);
      s.write(readerAdd(name));
      resolve({
        close: () => {
          isClosing = true;
          s.destroy();
        },
        get failure() {
          return failure;
        },
      });
    });
  });
}

// ---------------------------------------------------------------- variants
interface ProcStats {
  readonly cpuUs: number;
  readonly memBytes: number;
}
interface Running {
  connect(index: number): Promise<BrowserSession>;
  /** Stats of the relay process (null for the direct client). */
  stats(): Promise<ProcStats | null>;
  stop(): Promise<void>;
  readonly idleSessions: number;
  readonly note?: string;
}
interface Variant {
  readonly name: string;
  start(hostPort: number): Promise<Running | { skipped: string }>;
}

/**
 * `--profile=DIR`: each Node child writes V8 CPU profiles into `DIR/<child>-<time>/` on exit
 * (one file per thread: tsx's module loader runs on its own).
 */
const profileDir = process.argv.find((x) => x.startsWith('--profile='))?.slice('--profile='.length);
function profileArgs(script: string): string[] {
  if (profileDir === undefined) return [];
  const dir = path.join(profileDir, `${path.basename(script, '.ts')}-${Date.now()}`);
  return ['--cpu-prof', `--cpu-prof-dir=${dir}`, '--cpu-prof-interval=50'];
}

function spawnNodeChild(
  script: string,
  childArgs: string[],
  env: Record<string, string> = {},
): Promise<{
  child: ChildProcess;
  port: number;
  stats: () => Promise<ProcStats>;
}> {
  const child = spawn(
    process.execPath,
    [
      '--expose-gc',
      ...profileArgs(script),
      '--import',
      'tsx',
      path.join(here, script),
      ...childArgs,
    ],
    {
      cwd: relayDir,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: { ...process.env, ...env },
    },
  );
  children.add(child);
  child.on('exit', () => children.delete(child));
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${script} did not start in 90 s`));
    }, 90_000);
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
    child.once('message', (m: ChildMessage) => {
      if (m.type !== 'ready') return;
      clearTimeout(t);
      resolve({
        child,
        port: m.port,
        stats: () =>
          new Promise((res, rej) => {
            const t2 = setTimeout(() => rej(new Error('stats timeout')), 20_000);
            child.once('message', (s: ChildMessage) => {
              clearTimeout(t2);
              if (s.type === 'stats') res({ cpuUs: s.cpuUs, memBytes: s.rssBytes });
            });
            child.send({ type: 'stats' });
          }),
      });
    });
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const t = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    if (child.connected) child.send({ type: 'stop' });
    else child.kill('SIGTERM');
  });
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

async function waitForPort(port: number, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const ok = await new Promise<boolean>((r) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => {
        s.destroy();
        r(true);
      });
      s.on('error', () => r(false));
    });
    if (ok) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

const tokenSecret = randomBytes(32);

const VARIANTS: Variant[] = [
  {
    name: '(a) direct TCP',
    async start(hostPort) {
      return {
        connect: (i) => openTcpBrowser(hostPort, `s${i}`),
        stats: async () => null,
        stop: async () => {},
        idleSessions: PARAMS.idle,
      };
    },
  },
  {
    name: '(b) bare ws-net pipe',
    async start(hostPort) {
      const c = await spawnNodeChild('child-pipe.ts', [String(hostPort)]);
      return {
        connect: (i) => openWsBrowser(`ws://127.0.0.1:${c.port}/`, [], `s${i}`, 10_000),
        stats: c.stats,
        stop: () => stopChild(c.child),
        idleSessions: PARAMS.idle,
      };
    },
  },
  {
    name: '(c) websockify',
    async start(hostPort) {
      const which = spawnSync('sh', ['-c', 'command -v websockify'], { encoding: 'utf8' });
      if (which.status !== 0)
        return { skipped: 'websockify is not installed (apt-get install -y websockify)' };
      const port = await freePort();
      const child = spawn(which.stdout.trim(), [`127.0.0.1:${port}`, `127.0.0.1:${hostPort}`], {
        stdio: ['ignore', 'ignore', 'ignore'],
      });
      children.add(child);
      child.on('exit', () => children.delete(child));
      if (!(await waitForPort(port, 15_000))) {
        child.kill('SIGKILL');
        return { skipped: 'websockify did not start listening' };
      }
      const pid = child.pid ?? 0;
      return {
        connect: (i) => openWsBrowser(`ws://127.0.0.1:${port}/`, ['binary'], `s${i}`, 10_000),
        stats: async () => ({ cpuUs: treeCpuUs(pid), memBytes: treePssBytes(pid) }),
        stop: async () => {
          child.kill('SIGTERM');
          await new Promise((r) => setTimeout(r, 300));
          if (child.exitCode === null) child.kill('SIGKILL');
        },
        idleSessions: PARAMS.websockifyIdle,
        note: `forks one Python process per connection: idle memory measured with ${PARAMS.websockifyIdle} sessions (PSS of the process tree); CPU from /proc`,
      };
    },
  },
  {
    name: '(d) cardlend relay',
    async start(hostPort) {
      // One target per session the whole run opens (the relay admits one browser per VM).
      const targets = IDLE_BASE + PARAMS.idle;
      const c = await spawnNodeChild('child-relay.ts', [String(hostPort), String(targets)], {
        BENCH_TOKEN_SECRET: tokenSecret.toString('hex'),
      });
      const url = `ws://127.0.0.1:${c.port}${RELAY_PATH}`;
      return {
        connect: (i) => {
          const token = mintToken({
            secret: tokenSecret,
            targetId: `vm-${i}`,
            ttlSeconds: 3600,
            nowMs: Date.now(),
          });
          return openWsBrowser(
            url,
            [RELAY_SUBPROTOCOL, `${RELAY_TOKEN_SUBPROTOCOL_PREFIX}${token}`],
            `s${i}`,
            10_000,
          );
        },
        stats: c.stats,
        stop: () => stopChild(c.child),
        idleSessions: PARAMS.idle,
      };
    },
  },
];

// ---------------------------------------------------------------- measurements
interface Result {
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
async function openSessions(
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

function describeFailures(failures: Map<string, number>): string {
  return [...failures].map(([why, n]) => `${n}× ${why}`).join('; ');
}

async function closeAll(
  sessions: { browser: BrowserSession; host: HostConn }[],
  host: StandInHost,
): Promise<void> {
  for (const s of sessions) s.browser.close();
  const end = Date.now() + 15_000;
  while (sessions.some((s) => !s.host.isClosed) && Date.now() < end)
    await new Promise((r) => setTimeout(r, 50));
  host.prune();
}

type Started = { variant: Variant; run: Running; result: Result };

async function startVariant(
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

/** Rotates the order each round, so load changes on this shared machine hit every variant alike. */
function rotated<T>(list: readonly T[], round: number): T[] {
  const k = round % Math.max(1, list.length);
  return [...list.slice(k), ...list.slice(0, k)];
}

/** A small deterministic PRNG in [0, 1) (Marsaglia's xorshift32), so runs are repeatable. */
function xorshift32(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x1_0000_0000;
  };
}

/** Fisher–Yates shuffle of a copy. */
function shuffled<T>(list: readonly T[], random: () => number): T[] {
  const out = [...list];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

function phase(label: string): () => void {
  const t0 = performance.now();
  process.stdout.write(`  ${label}…`);
  return () => process.stdout.write(` ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
}

let nextSession = 0;

/** Percentile (nearest rank) of unsorted values; the values are not reordered. */
function percentileOf(values: readonly number[], p: number): number {
  return percentile(
    [...values].sort((x, y) => x - y),
    p,
  );
}

/** Median (the mean of the middle two for an even count; NaN when empty). */
function median(values: readonly number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = sorted.length >> 1;
  if (sorted.length === 0) return NaN;
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

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
async function latencyPhase(
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

/** 2. Throughput and relay CPU at 64 sessions: interleaved rounds, totals summed. */
async function throughputPhase(all: Started[], host: StandInHost): Promise<void> {
  const done = phase(
    `throughput (${PARAMS.sessions} sessions, ${THROUGHPUT_ROUNDS} × ${PARAMS.throughputMs / THROUGHPUT_ROUNDS} ms each)`,
  );
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
async function idlePhase(s: Started, host: StandInHost, hostPort: number): Promise<void> {
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

// ---------------------------------------------------------------- report
function fmt(n: number | undefined, digits = 1): string {
  return n === undefined || !Number.isFinite(n) ? '—' : n.toFixed(digits);
}

function signed(n: number): string {
  return `${n >= 0 ? '+' : ''}${fmt(n)}`;
}

function report(results: Result[]): boolean {
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
  for (const r of results) {
    if (r.note !== undefined) console.log(`note ${r.name}: ${r.note}`);
    for (const e of r.errors) console.log(`problem ${r.name}: ${e}`);
    if (r.idleFailure !== undefined)
      console.log(`problem ${r.name}: idle sessions: ${r.idleFailure}`);
  }
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
  const check = (
    label: string,
    value: number | undefined,
    floor: number | undefined,
    ok: (v: number, f: number) => boolean,
    shown: string,
  ) => {
    const isMet =
      value !== undefined &&
      floor !== undefined &&
      Number.isFinite(value) &&
      Number.isFinite(floor) &&
      ok(value, floor);
    console.log(`  ${isMet ? 'MET   ' : 'MISSED'} ${label}: ${shown}`);
    return isMet;
  };
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

async function main(): Promise<void> {
  const host = new StandInHost();
  const hostPort = await host.listen();
  console.log(
    `relay-bench${isQuick ? ' --quick' : ''}: Node ${process.version}, loopback, load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')} on ${cpus().length} CPUs`,
  );
  if ((loadavg()[0] ?? 0) > cpus().length) {
    console.log(
      'warning: the machine is busy (load average above the CPU count): numbers are noisy and the targets indicative only',
    );
  }
  const results: Result[] = [];
  const started: Started[] = [];
  const done = phase('starting the relays');
  for (const variant of VARIANTS) {
    if (only !== undefined && !only.has(variant.name.slice(1, 2))) continue;
    const result: Result = { name: variant.name, errors: [] };
    results.push(result);
    const run = await startVariant(variant, hostPort, result);
    if (run !== undefined) started.push({ variant, run, result });
  }
  done();
  try {
    await latencyPhase(started, host, hostPort);
    await throughputPhase(started, host);
    for (const s of started) await idlePhase(s, host, hostPort);
  } catch (e) {
    console.log(`\nrelay-bench: stopped early: ${(e as Error).message}`);
  } finally {
    for (const s of started) await s.run.stop();
  }
  const isAllMet = report(results);
  const isStartRssMet = reportStartRss(await measureStartRss(hostPort, isQuick ? 1 : 3));
  process.exit(isStrict && !(isAllMet && isStartRssMet) ? 1 : 0);
}

await main();
