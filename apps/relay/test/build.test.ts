/**
 * The shipped artefact: scripts/build.mjs bundles the relay, and `node dist/main.js` (what
 * `pnpm start` and `pnpm relay` run) prints its help, serves /healthz and the page, relays a
 * native client's session, and ends cleanly on SIGTERM.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RELAY_PATH, RelayClose } from '@cardlend/vscard/relay-contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HELP_TEXT } from '../src/config.ts';
import { Browser, FakeVmHost, makeStaticDir, msg } from './helpers.ts';

const appDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const INIT = msg(1, 0, '56534344 00000002 00000000');
let host: FakeVmHost;
let child: ChildProcess | undefined;

beforeAll(async () => {
  const built = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: appDir });
  expect(built.status, built.stderr.toString()).toBe(0);
  host = await FakeVmHost.start();
}, 60_000);

afterAll(async () => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  await host.close();
});

function runBuilt(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, args, { cwd: appDir, timeout: 20_000 });
  return { status: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

describe('the built relay (dist/)', () => {
  it('is a bundle of the relay and the token minting tool', () => {
    expect(existsSync(path.join(appDir, 'dist/main.js'))).toBe(true);
    expect(existsSync(path.join(appDir, 'dist/cli/mint-token.js'))).toBe(true);
  });

  it.each([
    [['dist/main.js', '--help'], 0, HELP_TEXT.split('\n')[0] as string],
    [['dist/main.js', '--listen', 'nope'], 2, '--listen must look like HOST:PORT'],
    [['dist/cli/mint-token.js', '--help'], 0, '--secret-file'],
  ])('node %j exits %i and says %j', (args, status, text) => {
    const r = runBuilt(args);
    expect(r.status).toBe(status);
    expect(r.stdout + r.stderr).toContain(text);
  });

  it('serves /healthz and the page, relays a session, and ends cleanly on SIGTERM', async () => {
    const proc = spawn(
      process.execPath,
      [
        'dist/main.js',
        '--listen',
        '127.0.0.1:0',
        '--target',
        `127.0.0.1:${host.port}`,
        '--static',
        makeStaticDir(),
      ],
      { cwd: appDir, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child = proc;
    let stderr = '';
    proc.stdout.resume();
    const exited = new Promise<number | null>((r) => proc.once('exit', r));
    const url = await new Promise<string>((resolve, reject) => {
      proc.stderr.on('data', (c: Buffer) => {
        stderr += c.toString();
        const m = /Open in Chrome:\s+(http:\/\/\S+)/.exec(stderr);
        if (m) resolve(m[1] as string);
      });
      void exited.then(() => reject(new Error(`exited early: ${stderr}`)));
    });
    const health = await fetch(new URL('/healthz', url));
    expect([health.status, await health.text()]).toEqual([200, 'ok\n']);
    expect(await (await fetch(url)).text()).toContain('<title>cardlend</title>');
    const b = new Browser(url.replace(/^http/, 'ws').replace(/\/$/, RELAY_PATH));
    await b.opened;
    b.send(INIT);
    expect((await b.frame(0)).readUInt32BE(0)).toBe(1);
    proc.kill('SIGTERM');
    expect((await b.closed).code).toBe(RelayClose.GOING_AWAY);
    expect(await exited).toBe(0);
  }, 40_000);
});
