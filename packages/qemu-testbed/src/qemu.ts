/**
 * Start a throw-away QEMU with `usb-ccid` + `ccid-card-passthru` whose VSCard chardev listens
 * on 127.0.0.1 (shared/docs/qemu-guest.md). Without a guest the machine is created paused
 * (`-S`): the USB devices and the chardev exist and QEMU answers VSCard at once, in well
 * under a second.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TestbedError } from './errors.ts';
import { findFreePort } from './free-port.ts';
import { SYSTEM_QEMU_BINARY } from './paths.ts';
import { QmpClient } from './qmp.ts';
import { QemuLog } from './qemu-log.ts';
import { ensureQemu10 } from './qemu10.ts';

/** QEMU versions the test bed can run: Debian 12's 7.2, and 10.0 from bookworm-backports. */
export type QemuVersion = '7.2' | '10.0';

/** A Linux guest to boot instead of the paused, guest-less machine. */
export interface QemuGuest {
  kernel: string;
  initrd: string;
  append: string;
}

export interface StartQemuOptions {
  version: QemuVersion;
  /** VSCard TCP port on 127.0.0.1; default: a free port is picked (retried if taken). */
  port?: number;
  /** Appended to the command line. */
  extraArgs?: string[];
  /** `debug=N` on `usb-ccid` and `ccid-card-passthru` (0–4); default none. */
  debug?: number;
  /** Boot this guest (serial console on stdout) instead of staying paused. */
  guest?: QemuGuest;
  /** How long to wait for QEMU to be ready; default 20 000 ms. */
  startTimeoutMs?: number;
  /**
   * Dial-in (client) mode: QEMU connects to `host`:`port` itself (host default 127.0.0.1) and
   * retries every second (`reconnect=1`, vscard-protocol.md §1) instead of listening. `port` is
   * then that port. With `tls`, the chardev is a TLS client ({@link QemuDialInTls}).
   */
  dialIn?: { port: number; host?: string; tls?: QemuDialInTls };
}

/**
 * TLS on a dial-in chardev: `-object tls-creds-x509,id=vscard-tls,dir=DIR,endpoint=client,
 * verify-peer=on` and `tls-creds=vscard-tls` on the chardev. QEMU reads `ca-cert.pem` (the CA
 * of the relay's certificate, mandatory) and `client-cert.pem` + `client-key.pem` (its own
 * certificate) from `dir` (QEMU docs/system/tls.rst, "Certificate file naming"), and checks the
 * relay's certificate against the chardev's `host` (subject alt name: IP address or DNS name).
 */
export interface QemuDialInTls {
  /** Directory with ca-cert.pem, client-cert.pem, client-key.pem. */
  dir: string;
}

/** The id of the `tls-creds-x509` object {@link qemuArgs} adds for a TLS dial-in chardev. */
export const QEMU_TLS_CREDS_ID = 'vscard-tls';

/** A running QEMU. */
export interface QemuHandle {
  readonly version: QemuVersion;
  /** The VSCard chardev's TCP port on 127.0.0.1. */
  readonly port: number;
  readonly pid: number;
  /** The full command line (binary first). */
  readonly argv: readonly string[];
  /** Lines QEMU printed so far. */
  readonly stdout: readonly string[];
  readonly stderr: readonly string[];
  /** stdout and stderr lines interleaved in arrival order; its length is a mark for `waitForLog`. */
  readonly output: readonly string[];
  /**
   * Resolves with the first line of `output` at index ≥ `fromIndex` (default 0), past or
   * future, that matches `re`; rejects with TESTBED_TIMEOUT after `timeoutMs` (default 5000).
   */
  waitForLog(re: RegExp, timeoutMs?: number, fromIndex?: number): Promise<string>;
  /** Runs an HMP command (`info usb`, `device_del card0`, ...) and returns its output. */
  hmp(command: string): Promise<string>;
  /** Whether the process has exited. */
  readonly exited: boolean;
  /** Kills this QEMU (SIGTERM, then SIGKILL after 2 s) and waits for it to exit. */
  stop(): Promise<void>;
}

/** Device ids on the command line, for `device_del` / `device_add`. */
export const QEMU_DEVICE_IDS = {
  xhci: 'usb',
  ccid: 'ccid0',
  card: 'card0',
  chardev: 'vscard',
} as const;

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** Starts QEMU; resolves once its monitor answers (the VSCard port is then listening). */
export async function startQemu(opts: StartQemuOptions): Promise<QemuHandle> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = opts.dialIn?.port ?? opts.port ?? (await findFreePort());
    try {
      return await startOnce(opts, port);
    } catch (e) {
      lastError = e;
      // Retry only a lost race for a picked port.
      const text = e instanceof Error ? e.message : '';
      if (
        opts.port !== undefined ||
        opts.dialIn ||
        !/Address already in use|Failed to bind/i.test(text)
      ) {
        throw e;
      }
    }
  }
  throw lastError;
}

/** The QEMU arguments (without binary) for a VSCard chardev listening on `port`. */
export function qemuArgs(opts: StartQemuOptions, port: number, monitorPath: string): string[] {
  const dbg = opts.debug !== undefined ? `,debug=${opts.debug}` : '';
  const { xhci, ccid, card, chardev } = QEMU_DEVICE_IDS;
  const args = ['-nodefaults', '-no-user-config', '-machine', 'pc,accel=tcg', '-display', 'none'];
  if (opts.guest) {
    args.push('-no-reboot', '-cpu', 'max', '-smp', '1', '-m', '512M', '-serial', 'stdio');
    args.push(
      '-kernel',
      opts.guest.kernel,
      '-initrd',
      opts.guest.initrd,
      '-append',
      opts.guest.append,
    );
  } else {
    args.push('-S');
  }
  const tls = opts.dialIn?.tls;
  if (tls) {
    if (tls.dir.includes(','))
      throw new TestbedError(
        'TESTBED_QEMU_START_FAILED',
        `the TLS credentials directory may not contain ',' (QEMU option syntax): ${tls.dir}`,
      );
    args.push(
      '-object',
      `tls-creds-x509,id=${QEMU_TLS_CREDS_ID},dir=${tls.dir},endpoint=client,verify-peer=on`,
    );
  }
  args.push(
    '-device',
    `qemu-xhci,id=${xhci}`,
    '-device',
    `usb-ccid,id=${ccid},bus=${xhci}.0${dbg}`,
    '-chardev',
    opts.dialIn
      ? `socket,id=${chardev},host=${opts.dialIn.host ?? '127.0.0.1'},port=${opts.dialIn.port},reconnect=1,nodelay=on` +
          (tls ? `,tls-creds=${QEMU_TLS_CREDS_ID}` : '')
      : `socket,id=${chardev},host=127.0.0.1,port=${port},server=on,wait=off,nodelay=on`,
    '-device',
    `ccid-card-passthru,chardev=${chardev},id=${card}${dbg}`,
    '-chardev',
    `socket,id=qmp,path=${monitorPath},server=on,wait=off`,
    '-mon',
    'chardev=qmp,mode=control',
    ...(opts.extraArgs ?? []),
  );
  return args;
}

/** The binary, environment and leading arguments that run QEMU `version`. */
async function qemuCommand(
  version: QemuVersion,
): Promise<{ binary: string; env: NodeJS.ProcessEnv; pre: string[] }> {
  if (version !== '10.0') return { binary: SYSTEM_QEMU_BINARY, env: process.env, pre: [] };
  const install = await ensureQemu10();
  return { binary: install.binary, env: { ...process.env, ...install.env }, pre: install.args };
}

async function startOnce(opts: StartQemuOptions, port: number): Promise<QemuHandle> {
  const { binary, env, pre } = await qemuCommand(opts.version);
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'cardlend-qemu-'));
  const monitorPath = path.join(tmp, 'qmp.sock');
  const args = [...pre, ...qemuArgs(opts, port, monitorPath)];
  const child = spawn(binary, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  const log = new QemuLog();
  log.follow(child.stdout, child.stderr);
  let exited = false;
  const exitPromise = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true;
      live.delete(child);
      rmSync(tmp, { recursive: true, force: true });
      resolve();
    });
  });
  const spawnError = new Promise<never>((_, reject) => {
    child.once('error', (e) =>
      reject(
        new TestbedError('TESTBED_QEMU_START_FAILED', `cannot run ${binary}: ${e.message}`, {
          cause: e,
        }),
      ),
    );
    void exitPromise.then(() =>
      reject(
        new TestbedError(
          'TESTBED_QEMU_START_FAILED',
          `QEMU ${opts.version} exited during start: ${log.tail(800)}`,
        ),
      ),
    );
  });
  spawnError.catch(() => {});
  let qmp: QmpClient;
  try {
    qmp = await Promise.race([
      QmpClient.connect(monitorPath, opts.startTimeoutMs ?? 20_000),
      spawnError,
    ]);
  } catch (e) {
    child.kill('SIGKILL');
    await exitPromise;
    throw e;
  }
  const stop = async (): Promise<void> => {
    qmp.close();
    if (!exited) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
      await exitPromise;
      clearTimeout(timer);
    }
  };
  return {
    version: opts.version,
    port,
    pid: child.pid ?? -1,
    argv: [binary, ...args],
    stdout: log.stdout,
    stderr: log.stderr,
    output: log.output,
    get exited() {
      return exited;
    },
    waitForLog: (re: RegExp, timeoutMs = 5000, fromIndex = 0) =>
      log.waitFor(re, timeoutMs, fromIndex),
    hmp: (command: string) => qmp.hmp(command),
    stop,
  };
}
