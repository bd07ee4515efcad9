/**
 * Boots the guest under QEMU (TCG) with `usb-ccid` + `ccid-card-passthru` and reads its
 * serial console. Command line: shared/docs/qemu-guest.md ("QEMU command line that worked").
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { GuestImageError } from './errors.ts';
import { parseMarkerLine, type GuestMarker } from './markers.ts';

/** Guest programs selectable on the kernel command line (see init-script.ts). */
export const GuestScenario = {
  /** `opensc-tool -a`: RESULT name=atr atr=<hex>. */
  Atr: 'atr',
  /** `opensc-tool -c default -s …` with `args.apdus` = comma-separated hex APDUs: RESULT name=apdu i sw data per APDU. */
  Apdu: 'apdu',
  /**
   * Like `apdu`, but a failed exchange does not end the boot: RESULT name=apdu-try i sw data per
   * answered APDU, then RESULT name=apdu-try-done ok=0|1 count out (hex of opensc-tool's output).
   */
  ApduTry: 'apdu-try',
  /** `pkcs11-tool -L` and `-O` with OpenSC's module: RESULT slotshex objectshex (hex of the tool output). */
  Pkcs11List: 'pkcs11-list',
  /** `pkcs15-tool -D` (OpenSC's PKCS#15 view: PINs, keys, certificates): RESULT outhex (hex of the tool output). */
  Pkcs15Dump: 'pkcs15-dump',
  /** `pkcs11-tool --login --sign --mechanism RSA-PKCS` + `--read-object --type cert`: RESULT data sig cert (hex). */
  Pkcs11Sign: 'pkcs11-sign',
  /** `pcsc_scan -n`: EVENT state=present|empty atr per card state change; `args.seconds`, `args.events`. */
  Watch: 'watch',
  /**
   * Waits (up to `args.seconds`) until the card is removed: RESULT name=until-removed; holds the guest, and so QEMU, until then.
   * Later scenarios in the same boot wait for a new card (and print STAGE name=card again).
   */
  UntilRemoved: 'until-removed',
  /** `args.count` × `args.apdu` through opensc-tool; round trips timed by pcscd: RESULT count p50us p99us. */
  Bench: 'bench',
} as const;
export type GuestScenario = (typeof GuestScenario)[keyof typeof GuestScenario];

/** Options of {@link startGuest} / {@link bootGuest}. */
export interface BootGuestOptions {
  /** From buildGuest(). */
  image: { kernelPath: string; initrdPath: string };
  /** One scenario, or several run one after the other in the same boot (each prints its own results). */
  scenario: GuestScenario | readonly GuestScenario[];
  /**
   * Scenario parameters, passed as `cl_<key>=<value>` on the kernel command line.
   * Keys `[a-z0-9_]+`; values `[A-Za-z0-9._,:+/-]*` (no spaces or quotes); whole command line ≤ 2048 bytes.
   * Common: `cardwait` (s to wait for a card, default 60).
   */
  args?: Readonly<Record<string, string | number>>;
  /** TCP port of the VSCard chardev. */
  vscardPort: number;
  /**
   * `'server'` (default): QEMU listens on 127.0.0.1:vscardPort (`server=on,wait=off,nodelay=on`) and a client (direct card or relay) connects.
   * `'dial-in'`: QEMU connects to a relay's dial-in port 127.0.0.1:vscardPort and retries every second (`reconnect=1`, vscard-protocol.md §1).
   */
  chardevMode?: 'server' | 'dial-in';
  /** `nodelay=on` on the VSCard chardev (default true); false reproduces a VM without it (issue 11 §4). */
  vscardNodelay?: boolean;
  /** QEMU binary (default `/usr/bin/qemu-system-x86_64`, Debian's 7.2). */
  qemuBinary?: string;
  /** Extra environment for QEMU (e.g. `QEMU_MODULE_DIR` of an unpacked QEMU 10). */
  qemuEnv?: Readonly<Record<string, string>>;
  /** Appended to the QEMU command line (e.g. `['-L', '<root>/usr/share/qemu']`). */
  qemuArgsExtra?: readonly string[];
  /** Kill QEMU and fail when the guest has not printed DONE by then, ms (default 120000). */
  timeoutMs?: number;
  /** Every serial line, with ms since spawn. */
  onLine?: (line: string, atMs: number) => void;
}

/** One entry of a run's timeline. */
export interface TimelineEntry {
  /** ms since QEMU was spawned (host clock). */
  atMs: number;
  /** `spawn`, `first-serial-byte`, or the marker `KIND:name` (e.g. `STAGE:pcscd`, `RESULT:apdu`). */
  what: string;
  marker?: GuestMarker;
}

/** What a finished run yields. */
export interface GuestRunResult {
  /** All markers in order. */
  markers: GuestMarker[];
  /** RESULT markers only. */
  results: GuestMarker[];
  /** EVENT markers only. */
  events: GuestMarker[];
  timeline: TimelineEntry[];
  /** The whole serial output. */
  serial: string;
  /** QEMU's stderr. */
  stderr: string;
  exitCode: number | null;
  /** Wall time from spawn to QEMU exit, ms. */
  durationMs: number;
}

/** A running guest. */
export interface GuestHandle {
  readonly pid: number;
  /** `performance.now()` at spawn (same clock as the direct card's timestamps). */
  readonly startedAtMs: number;
  /** Markers so far (live). */
  readonly markers: readonly GuestMarker[];
  /** Resolves with the first marker (past or future) matching `predicate`; rejects on exit/timeout. */
  waitForMarker(predicate: (m: GuestMarker) => boolean, timeoutMs?: number): Promise<GuestMarker>;
  /** Resolves when QEMU exits after the guest printed DONE; rejects (GuestImageError) otherwise. */
  readonly result: Promise<GuestRunResult>;
  /** Kills this QEMU (by its PID only) and waits for it to exit. */
  kill(): Promise<void>;
}

const KEY = /^[a-z0-9_]+$/;
const VALUE = /^[A-Za-z0-9._,:+/-]*$/;

/** Kernel command line for a scenario (or a chain of scenarios, joined with `+`). */
export function kernelCommandLine(
  scenario: GuestScenario | readonly GuestScenario[],
  args: Readonly<Record<string, string | number>> = {},
): string {
  const words = [
    'console=ttyS0',
    'quiet',
    'loglevel=3',
    'panic=-1',
    'rdinit=/init',
    '8250.nr_uarts=1',
    'mitigations=off',
    // Keep ACPI: without it the guest has no TSC calibration and falls back to a jiffies clock,
    // which ruins the in-guest µs timings of the bench scenario.
    `cl_scenario=${typeof scenario === 'string' ? scenario : scenario.join('+')}`,
  ];
  for (const [k, v] of Object.entries(args)) {
    const value = String(v);
    if (!KEY.test(k)) throw new RangeError(`guest arg name ${k} must match ${KEY}`);
    if (!VALUE.test(value))
      throw new RangeError(`guest arg ${k} has characters the kernel command line cannot carry`);
    words.push(`cl_${k}=${value}`);
  }
  const line = words.join(' ');
  // arch/x86/include/asm/setup.h: COMMAND_LINE_SIZE 2048 (including the NUL).
  if (line.length > 2047) throw new RangeError('kernel command line longer than 2047 bytes');
  return line;
}

/** The QEMU arguments used by {@link startGuest} (exported for tools and docs). */
export function qemuArguments(opts: BootGuestOptions): string[] {
  return [
    '-nodefaults',
    '-no-user-config',
    '-no-reboot',
    '-machine',
    'pc,accel=tcg',
    '-cpu',
    'max',
    '-smp',
    '1',
    '-m',
    '512M',
    '-display',
    'none',
    '-serial',
    'stdio',
    '-kernel',
    opts.image.kernelPath,
    '-initrd',
    opts.image.initrdPath,
    '-append',
    kernelCommandLine(opts.scenario, opts.args),
    '-device',
    'qemu-xhci,id=usb',
    '-device',
    'usb-ccid,id=ccid0,bus=usb.0',
    // nodelay=on: QEMU writes header and payload separately; without it every APDU waits for a delayed ACK (qemu-guest.md "Nagle").
    '-chardev',
    `socket,id=vscard,host=127.0.0.1,port=${opts.vscardPort},` +
      (opts.chardevMode === 'dial-in' ? 'reconnect=1' : 'server=on,wait=off') +
      (opts.vscardNodelay === false ? '' : ',nodelay=on'),
    '-device',
    'ccid-card-passthru,chardev=vscard,id=card0',
    ...(opts.qemuArgsExtra ?? []),
  ];
}

/** A TCP port that was free on 127.0.0.1 a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** Someone awaiting a marker through {@link GuestHandle.waitForMarker}. */
interface MarkerWaiter {
  predicate: (m: GuestMarker) => boolean;
  resolve: (m: GuestMarker) => void;
  reject: (e: Error) => void;
}

/** What one QEMU run has collected so far (shared by the serial reader, the exit handler and the handle). */
interface GuestRun {
  readonly markers: GuestMarker[];
  readonly timeline: TimelineEntry[];
  readonly waiters: Set<MarkerWaiter>;
  serial: string;
  stderr: string;
  pending: string;
  exited: boolean;
  exitError: GuestImageError | undefined;
  /** ms since spawn. */
  now(): number;
}

/**
 * Spawns QEMU for one scenario and returns at once; the guest powers off when the scenario
 * is done. Start the VSCard client (direct card or relay) after this: QEMU listens on the
 * port before the guest boots and keeps waiting (`wait=off`) while nobody is connected.
 * @throws RangeError on bad args (synchronously).
 */
export function startGuest(opts: BootGuestOptions): GuestHandle {
  const args = qemuArguments(opts);
  const startedAtMs = performance.now();
  const child: ChildProcess = spawn(opts.qemuBinary ?? '/usr/bin/qemu-system-x86_64', args, {
    env: { ...process.env, ...opts.qemuEnv },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const run: GuestRun = {
    markers: [],
    timeline: [{ atMs: 0, what: 'spawn' }],
    waiters: new Set(),
    serial: '',
    stderr: '',
    pending: '',
    exited: false,
    exitError: undefined,
    now: () => performance.now() - startedAtMs,
  };
  readOutput(child, run, opts.onLine);

  const timeoutMs = opts.timeoutMs ?? 120_000;
  const timer = setTimeout(() => {
    run.exitError = new GuestImageError(
      'GUEST_TIMEOUT',
      `guest did not finish within ${timeoutMs} ms (scenario ${String(opts.scenario)})`,
    );
    child.kill('SIGKILL');
  }, timeoutMs);

  const result = settleOnExit(child, run, timer, opts.qemuBinary);
  result.catch(() => undefined); // callers that only use waitForMarker must not see an unhandled rejection

  return {
    get pid() {
      return child.pid ?? -1;
    },
    startedAtMs,
    markers: run.markers,
    result,
    waitForMarker: (predicate, waitMs = timeoutMs) => waitForMarker(run, predicate, waitMs),
    kill: () => killGuest(child, run),
  };
}

/** Collects QEMU's stderr and its serial console: every line to `onLine`, markers to the run and its waiters. */
function readOutput(child: ChildProcess, run: GuestRun, onLine: BootGuestOptions['onLine']): void {
  child.stdout?.setEncoding('latin1');
  child.stdout?.on('data', (chunk: string) => {
    if (run.serial === '') run.timeline.push({ atMs: run.now(), what: 'first-serial-byte' });
    run.serial += chunk;
    run.pending += chunk;
    let nl: number;
    while ((nl = run.pending.indexOf('\n')) >= 0) {
      const line = run.pending.slice(0, nl).replace(/\r$/, '');
      run.pending = run.pending.slice(nl + 1);
      const at = run.now();
      onLine?.(line, at);
      const m = parseMarkerLine(line);
      if (m) addMarker(run, m, at);
    }
  });
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (c: string) => (run.stderr += c));
}

/** Records a marker and resolves the waiters it satisfies. */
function addMarker(run: GuestRun, m: GuestMarker, atMs: number): void {
  run.markers.push(m);
  run.timeline.push({
    atMs,
    what: m.fields['name'] ? `${m.kind}:${m.fields['name']}` : m.kind,
    marker: m,
  });
  for (const w of run.waiters) {
    if (w.predicate(m)) {
      run.waiters.delete(w);
      w.resolve(m);
    }
  }
}

/** The run's result: resolves when QEMU exits after the guest printed DONE, rejects otherwise (and fails all waiters). */
function settleOnExit(
  child: ChildProcess,
  run: GuestRun,
  timer: NodeJS.Timeout,
  qemuBinary: string | undefined,
): Promise<GuestRunResult> {
  return new Promise<GuestRunResult>((resolve, reject) => {
    child.on('error', (cause) => {
      run.exitError ??= new GuestImageError(
        'GUEST_QEMU_FAILED',
        `cannot start ${qemuBinary ?? 'qemu-system-x86_64'}`,
        { cause },
      );
    });
    child.on('close', (code) => {
      run.exited = true;
      clearTimeout(timer);
      const done = run.markers.some((m) => m.kind === 'DONE');
      if (!done && !run.exitError) {
        run.exitError = new GuestImageError(
          'GUEST_QEMU_FAILED',
          `QEMU exited (${code}) before the guest finished: ${run.stderr.trim().slice(-1000)}`,
        );
      }
      for (const w of run.waiters)
        w.reject(
          run.exitError ??
            new GuestImageError('GUEST_QEMU_FAILED', 'guest finished without the awaited marker'),
        );
      run.waiters.clear();
      if (run.exitError) {
        reject(run.exitError);
        return;
      }
      resolve({
        markers: run.markers,
        results: run.markers.filter((m) => m.kind === 'RESULT'),
        events: run.markers.filter((m) => m.kind === 'EVENT'),
        timeline: run.timeline,
        serial: run.serial,
        stderr: run.stderr,
        exitCode: code,
        durationMs: run.now(),
      });
    });
  });
}

/** {@link GuestHandle.waitForMarker}: a past marker at once, else the first future one within `waitMs`. */
function waitForMarker(
  run: GuestRun,
  predicate: (m: GuestMarker) => boolean,
  waitMs: number,
): Promise<GuestMarker> {
  const found = run.markers.find(predicate);
  if (found) return Promise.resolve(found);
  if (run.exited)
    return Promise.reject(
      run.exitError ?? new GuestImageError('GUEST_QEMU_FAILED', 'guest already exited'),
    );
  return new Promise((resolve, reject) => {
    const w: MarkerWaiter = { predicate, resolve, reject };
    const t = setTimeout(() => {
      run.waiters.delete(w);
      reject(new GuestImageError('GUEST_TIMEOUT', `marker not seen within ${waitMs} ms`));
    }, waitMs);
    w.resolve = (m) => (clearTimeout(t), resolve(m));
    w.reject = (e) => (clearTimeout(t), reject(e));
    run.waiters.add(w);
  });
}

/** {@link GuestHandle.kill}: SIGTERM to this QEMU (SIGKILL after 2 s), resolving when it has exited. */
function killGuest(child: ChildProcess, run: GuestRun): Promise<void> {
  if (run.exited) return Promise.resolve();
  run.exitError ??= new GuestImageError('GUEST_QEMU_FAILED', 'QEMU was killed by the host');
  return new Promise((resolve) => {
    child.once('close', () => resolve());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 2000).unref();
  });
}

/** Boots the guest for one scenario and resolves when it has powered off. */
export function bootGuest(opts: BootGuestOptions): Promise<GuestRunResult> {
  return startGuest(opts).result;
}
