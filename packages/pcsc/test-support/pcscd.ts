/**
 * A real pcscd for tests, with the vsmartcard vpcd driver (two readers, `Virtual PCD 00 00`
 * on port 35963 and `Virtual PCD 00 01` on 35964), isolated per test process:
 *
 * - a private network namespace (`unshare -n`): vpcd listens on all interfaces, so it is
 *   never exposed; cards connect from inside the namespace (netns-socket.ts, `nsenter`);
 * - a private mount namespace where a temporary directory is bind-mounted on /run/pcscd, so
 *   pcscd's socket and pid file never clash with the system's pcscd or another test
 *   process's; this process reaches it through `PCSCLITE_CSOCK_NAME` (read by libpcsclite,
 *   once per process, so the path is fixed per process: one pcscd at a time per process).
 *
 * Stopped with SIGTERM (a pcscd killed hard leaves its socket and pid file behind; those are
 * in the private directory and removed here). Needs root, and the Debian packages pcscd and
 * vsmartcard-vpcd: without them startPcscd throws, so tests fail loudly instead of skipping.
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { VirtualCard } from '@cardlend/card-sim';
import { connectInNamespace } from './netns-socket.ts';
import { Daemon, PCSCD_LOG_LEVELS } from './pcscd-daemon.ts';
import type { PcscdLogLevel } from './pcscd-daemon.ts';
import { VpcdCard } from './vpcd-card.ts';
import type { VpcdCardOptions } from './vpcd-card.ts';
import { startVicc } from './vicc.ts';
import type { Vicc, ViccOptions } from './vicc.ts';

/** The readers vpcd creates, by slot. */
export const VPCD_READERS = ['Virtual PCD 00 00', 'Virtual PCD 00 01'] as const;
/** vpcd's TCP port per slot (inside the namespace). */
export const VPCD_PORTS = [35963, 35964] as const;

const PCSCD = '/usr/sbin/pcscd';
const VPCD_DRIVER = '/usr/lib/pcsc/drivers/serial/libifdvpcd.so';

/** Options of {@link startPcscd}. */
export interface PcscdOptions {
  /** How long to wait for "daemon ready", ms; default 15 000. */
  readyTimeoutMs?: number;
  /** Log APDUs too (`--apdu`); default false. */
  logApdus?: boolean;
  /**
   * pcscd's log level; default `info`, or the environment variable `CARDLEND_PCSCD_LOG`
   * (`debug`, `info`, `error`, `critical`) when set: `CARDLEND_PCSCD_LOG=debug` for
   * investigations.
   */
  logLevel?: PcscdLogLevel;
}

/** The environment variable that sets the test pcscd's default log level. */
export const PCSCD_LOG_ENV = 'CARDLEND_PCSCD_LOG';

export type { PcscdLogLevel };

/** The log level: `opts.logLevel`, else `CARDLEND_PCSCD_LOG`, else `info`; throws on a bad value. */
export function pcscdLogLevel(
  opts: PcscdOptions = {},
  env: NodeJS.ProcessEnv = process.env,
): PcscdLogLevel {
  const wanted = opts.logLevel ?? env[PCSCD_LOG_ENV] ?? 'info';
  const level = PCSCD_LOG_LEVELS.find((l) => l === wanted);
  if (level === undefined) {
    throw new Error(
      `unknown pcscd log level "${wanted}" (${PCSCD_LOG_ENV} or logLevel: ${PCSCD_LOG_LEVELS.join(', ')})`,
    );
  }
  return level;
}

/** Options of {@link Pcscd.insertCard}. */
export interface InsertOptions extends VpcdCardOptions {
  /** vpcd slot 0 (`Virtual PCD 00 00`, default) or 1. */
  slot?: 0 | 1;
}

/** The running test pcscd (see the module comment). */
export interface Pcscd {
  /** pcscd's pid (also the process whose namespace cards connect in). Changes on restart. */
  readonly pid: number;
  /** The private directory bind-mounted on /run/pcscd. */
  readonly dir: string;
  /** pcscd's socket, as `PCSCLITE_CSOCK_NAME` names it for this process. */
  readonly socketPath: string;
  readonly readers: typeof VPCD_READERS;
  /** The level pcscd logs at (see {@link PcscdOptions.logLevel}). */
  readonly logLevel: PcscdLogLevel;
  /** Plugs a simulated card into a vpcd slot; resolves once pcscd has spoken to it. */
  insertCard(card: VirtualCard, opts?: InsertOptions): Promise<VpcdCard>;
  /** Plugs a removed card in again (same object, same exchange log). */
  reinsert(card: VpcdCard): Promise<VpcdCard>;
  /** Starts Debian's vicc (a Python ISO 7816 card) in a vpcd slot. */
  startVicc(opts?: ViccOptions): Promise<Vicc>;
  /**
   * Takes vpcd's two readers away: pcscd is restarted without them (pcscd 1.9.9 cannot drop a
   * configured reader while running), so PC/SC clients see the service go and come back
   * without the readers, as after the last reader was unplugged on Windows. Cards in them are
   * pulled.
   */
  unplugReaders(): Promise<void>;
  /** Restarts pcscd with vpcd's readers again (empty: insert cards afterwards). */
  plugReaders(): Promise<void>;
  /** SIGTERM and start again (a new namespace); cards still inserted are plugged in again. */
  restart(): Promise<void>;
  /** Stops pcscd (SIGTERM) without starting it again; `startDaemon()` brings it back. */
  stopDaemon(): Promise<void>;
  /** Starts pcscd after stopDaemon(), plugging the inserted cards in again. */
  startDaemon(): Promise<void>;
  /** Stops everything: cards, vicc, pcscd; removes the private directory. */
  stop(): Promise<void>;
  /** pcscd's output so far (last 400 lines), for failure messages. */
  log(): string;
}

let running: Pcscd | null = null;

/** The private directory and socket of this process's test pcscd. */
export function pcscdPaths(): { dir: string; socketPath: string } {
  const dir = join(tmpdir(), `cardlend-pcscd-${process.pid}`);
  return { dir, socketPath: join(dir, 'pcscd.comm') };
}

/** Throws a clear error when something the test pcscd needs is missing. */
export function checkPcscdPrerequisites(): void {
  const missing: string[] = [];
  if (!existsSync(PCSCD)) missing.push('pcscd');
  if (!existsSync(VPCD_DRIVER)) missing.push('vsmartcard-vpcd');
  for (const [tool, pkg] of [
    ['/usr/bin/unshare', 'util-linux'],
    ['/usr/bin/nsenter', 'util-linux'],
    ['/usr/sbin/ip', 'iproute2'],
  ] as const) {
    if (!existsSync(tool) && !existsSync(tool.replace('/usr', ''))) missing.push(pkg);
  }
  if (missing.length > 0) {
    throw new Error(
      `the test pcscd needs Debian packages: ${[...new Set(missing)].join(' ')} ` +
        `(sudo apt-get install -y ${[...new Set(missing)].join(' ')}; scripts/ensure-test-deps.mjs installs them)`,
    );
  }
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new Error('the test pcscd needs root (network and mount namespaces)');
  }
}

/** Starts the test pcscd; one per process at a time. */
export async function startPcscd(opts: PcscdOptions = {}): Promise<Pcscd> {
  checkPcscdPrerequisites();
  const logLevel = pcscdLogLevel(opts);
  if (running !== null) throw new Error('a test pcscd already runs in this process; stop it first');
  const { dir, socketPath } = pcscdPaths();
  const current = process.env['PCSCLITE_CSOCK_NAME'];
  if (current !== undefined && current !== socketPath) {
    throw new Error(`PCSCLITE_CSOCK_NAME is already ${current}; the test pcscd uses ${socketPath}`);
  }
  process.env['PCSCLITE_CSOCK_NAME'] = socketPath;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const daemon = new Daemon(dir, { ...opts, logLevel });
  await daemon.start();
  running = makeHandle(daemon, dir, socketPath);
  return running;
}

function makeHandle(daemon: Daemon, dir: string, socketPath: string): Pcscd {
  const cards = new Set<VpcdCard>();
  const viccs = new Set<Vicc>();
  const plug = async (link: VpcdCard): Promise<VpcdCard> => {
    const socket = await connectInNamespace(daemon.pid, '127.0.0.1', VPCD_PORTS[link.slot] ?? 0);
    link.attach(socket);
    cards.add(link);
    await link.whenNoticed();
    return link;
  };
  /** Plugs in again the cards that pcscd's stop disconnected (not those pulled on purpose). */
  const replug = async (): Promise<void> => {
    for (const link of [...cards]) {
      if (link.isRemoved) cards.delete(link);
      else if (!link.isInserted) await plug(link);
    }
  };
  const handle: Pcscd = {
    get pid() {
      return daemon.pid;
    },
    dir,
    socketPath,
    readers: VPCD_READERS,
    logLevel: daemon.logLevel,
    insertCard: (card, opts = {}) => plug(new VpcdCard(card, opts.slot ?? 0, opts)),
    reinsert: (link) => plug(link),
    startVicc: async (opts = {}) => {
      const vicc = await startVicc(daemon.pid, dir, opts);
      viccs.add(vicc);
      void vicc.exited.then(() => viccs.delete(vicc));
      return vicc;
    },
    restart: async () => {
      await daemon.stop();
      await daemon.start();
      await replug();
    },
    unplugReaders: async () => {
      daemon.setReadersPlugged(false);
      await daemon.stop(); // the cards' connections end with it
      for (const link of cards) await link.remove();
      cards.clear();
      await daemon.start();
    },
    plugReaders: async () => {
      daemon.setReadersPlugged(true);
      await daemon.stop();
      await daemon.start();
      await replug();
    },
    stopDaemon: () => daemon.stop(),
    startDaemon: async () => {
      await daemon.start();
      await replug();
    },
    stop: async () => {
      for (const link of cards) await link.remove();
      cards.clear();
      for (const v of [...viccs]) await v.stop();
      await daemon.stop();
      rmSync(dir, { recursive: true, force: true });
      if (running === handle) running = null;
    },
    log: () => daemon.log(),
  };
  return handle;
}
