/** The relay as a process: `tsx src/main.ts`, the banner, SIGTERM. */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RelayClose, RELAY_PATH } from '@cardlend/vscard';
import { afterEach, describe, expect, it } from 'vitest';
import { Browser, FakeVmHost, msg } from './helpers.ts';

const appDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
let child: ChildProcess | undefined;
let host: FakeVmHost | undefined;

afterEach(async () => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  child = undefined;
  await host?.close();
  host = undefined;
});

function startMain(args: string[]): {
  proc: ChildProcess;
  stderr: () => string;
  stdout: () => string;
  exited: Promise<number | null>;
} {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], {
    cwd: appDir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child = proc;
  let out = '';
  let err = '';
  proc.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  proc.stderr?.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<number | null>((resolve) =>
    proc.once('exit', (code) => resolve(code)),
  );
  return { proc, stderr: () => err, stdout: () => out, exited };
}

async function waitFor(
  get: () => string,
  re: RegExp,
  timeoutMs = 20_000,
): Promise<RegExpMatchArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = get().match(re);
    if (m) return m;
    if (Date.now() > deadline) throw new Error(`no ${String(re)} in: ${get()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('main.ts', () => {
  it('prints the URL and QEMU options, relays, and on SIGTERM closes browsers with 1001 after cleaning up the VM', async () => {
    host = await FakeVmHost.start();
    // pnpm passes a literal `--` through: it must be ignored.
    const relay = startMain([
      '--',
      '--listen',
      '127.0.0.1:0',
      '--target',
      `127.0.0.1:${host.port}`,
    ]);
    const [, url] = await waitFor(relay.stderr, /Open in Chrome:\s+(http:\/\/\S+)/);
    expect(relay.stderr()).toContain(
      `-chardev socket,id=vscard,host=127.0.0.1,port=${host.port},server=on,wait=off,nodelay=on`,
    );
    expect(relay.stderr()).toContain('-device ccid-card-passthru,chardev=vscard');
    const b = new Browser((url as string).replace(/^http/, 'ws').replace(/\/$/, RELAY_PATH));
    await b.opened;
    b.send(msg(1, 0, '56534344 00000002 00000000'));
    await b.frame(0);
    const conn = await host.nextConnection(0);
    relay.proc.kill('SIGTERM');
    const closed = await b.closed;
    expect(closed.code).toBe(RelayClose.GOING_AWAY);
    await conn.waitFor(() => conn.isEnded, 5000, 'FIN');
    expect(conn.messages.map((m) => m.type)).toEqual([1, 6, 4]);
    expect(await relay.exited).toBe(0);
    // JSON audit lines on stdout.
    const events = relay
      .stdout()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => (JSON.parse(l) as { event?: string }).event);
    expect(events).toContain('session-start');
    expect(events).toContain('session-end');
  }, 40_000);

  it('dial-in: the banner shows the client chardev; VM connects, refusals and a SIGHUP reload are logged', async () => {
    const relay = startMain(['--listen', '127.0.0.1:0', '--dial-in', '127.0.0.1:0']);
    const [, port] = await waitFor(
      relay.stderr,
      /-chardev socket,id=vscard,host=127\.0\.0\.1,port=(\d+),reconnect=1,nodelay=on/,
    );
    const vm = net.connect({ host: '127.0.0.1', port: Number(port) });
    vm.on('error', () => {});
    await waitFor(relay.stdout, /"event":"dial-in-vm-connected"/);
    // A second VM while the first is held is refused, and the log says why.
    const stranger = net.connect({ host: '127.0.0.1', port: Number(port) });
    stranger.on('error', () => {});
    const [line] = await waitFor(relay.stdout, /\{[^\n]*"event":"dial-in-vm-refused"[^\n]*\}/);
    expect(JSON.parse(line as string)).toMatchObject({ level: 40, target: 'default' });
    vm.destroy();
    await waitFor(relay.stdout, /"event":"dial-in-vm-disconnected"/);
    stranger.destroy();
    // SIGHUP re-reads TLS files (none here) and says so; the relay keeps running.
    relay.proc.kill('SIGHUP');
    await waitFor(relay.stdout, /"event":"tls-reload"[^\n]*"msg":"no TLS configured"/);
    relay.proc.kill('SIGTERM');
    expect(await relay.exited).toBe(0);
  }, 40_000);

  it('exits 2 with a precise message for a bad flag', async () => {
    const relay = startMain(['--listen', 'nope']);
    expect(await relay.exited).toBe(2);
    expect(relay.stderr()).toMatch(/--listen must look like HOST:PORT/);
  }, 30_000);
});
