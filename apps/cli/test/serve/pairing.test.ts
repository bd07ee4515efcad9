/**
 * Approval of a page in the helper's terminal: the pairing code on both sides, remembered in
 * the config file, refusals, no terminal, insecure origins, revocation; and the command line.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { HELPER_DEFAULT_PORT } from '@cardlend/helper-protocol';
import { approvalsPath } from '../../src/serve/approvals.ts';
import { parseListen, planServe } from '../../src/serve/args.ts';
import { runServe } from '../../src/serve/index.ts';
import type { CliDeps } from '../../src/ports.ts';
import { PAGE, RawClient, READER_A, fixturePerTest } from './serve-fixture.ts';

const startFixture = fixturePerTest();

describe('pairing', () => {
  it('shows the same code on the page and in the terminal, then remembers the origin', async () => {
    const fx = await startFixture();
    const c = new RawClient(fx.server.port, { origin: PAGE });
    const answer = c.request({ type: 'pair' });
    expect(await c.next((m) => m.type === 'pairing')).toEqual({ type: 'pairing', code: '042137' });
    await fx.prompter.asked();
    expect(fx.prompter.questions[0]).toContain(PAGE);
    expect(fx.prompter.questions[0]).toContain('042 137');
    fx.prompter.answer('y');
    expect(await answer).toMatchObject({ type: 'ok', result: { approved: true } });
    expect(await c.request({ type: 'list' })).toMatchObject({
      result: { readers: [{ name: READER_A }, {}] },
    });
    const file = JSON.parse(readFileSync(fx.store.path, 'utf8')) as {
      origins: { origin: string }[];
    };
    expect(file.origins.map((o) => o.origin)).toEqual([PAGE]);
    const again = new RawClient(fx.server.port, { origin: PAGE });
    expect(await again.next((m) => m.type === 'hello')).toMatchObject({ approved: true });
    expect(fx.prompter.questions).toHaveLength(1);
  });

  it('a refused origin is not asked about again while the helper runs', async () => {
    const fx = await startFixture();
    const c = new RawClient(fx.server.port, { origin: PAGE });
    const answer = c.request({ type: 'pair' });
    await fx.prompter.asked();
    fx.prompter.answer('n');
    expect(await answer).toMatchObject({ type: 'error', code: 'HELPER_PAIRING_REFUSED' });
    expect(await c.request({ type: 'pair' })).toMatchObject({ code: 'HELPER_PAIRING_REFUSED' });
    expect(await c.request({ type: 'list' })).toMatchObject({ code: 'HELPER_ORIGIN_NOT_APPROVED' });
    expect(fx.prompter.questions).toHaveLength(1);
  });

  it('one question at a time; a page that leaves ends its question', async () => {
    const fx = await startFixture();
    const first = new RawClient(fx.server.port, { origin: PAGE });
    const second = new RawClient(fx.server.port, { origin: 'https://other.example.org' });
    void first.request({ type: 'pair' });
    await fx.prompter.asked();
    expect(await second.request({ type: 'pair' })).toMatchObject({ code: 'HELPER_PAIRING_BUSY' });
    first.ws.close();
    await first.closed;
    await expect.poll(() => fx.prompter.isWaiting).toBe(false);
    const answer = second.request({ type: 'pair' });
    await fx.prompter.asked();
    expect(fx.prompter.questions[1]).toContain('https://other.example.org');
    fx.prompter.answer('yes');
    expect(await answer).toMatchObject({ type: 'ok', result: { approved: true } });
  });

  it('without a terminal, pairing is unavailable; insecure pages cannot pair', async () => {
    const fx = await startFixture({ withPrompter: false });
    const c = new RawClient(fx.server.port, { origin: PAGE });
    expect(await c.request({ type: 'pair' })).toMatchObject({ code: 'HELPER_PAIRING_UNAVAILABLE' });
    const http = new RawClient(fx.server.port, { origin: 'http://lend.example.org' });
    expect(await http.request({ type: 'pair' })).toMatchObject({ code: 'HELPER_ORIGIN_INSECURE' });
  });

  it('a revoked origin is refused at its next connection', async () => {
    const fx = await startFixture();
    fx.store.approve(PAGE);
    const c = new RawClient(fx.server.port, { origin: PAGE });
    expect(await c.next((m) => m.type === 'hello')).toMatchObject({ approved: true });
    expect(fx.store.revoke(PAGE)).toBe(true);
    const d = new RawClient(fx.server.port, { origin: PAGE });
    expect(await d.next((m) => m.type === 'hello')).toMatchObject({ approved: false });
  });
});

function captureDeps(): { deps: CliDeps; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  const deps: CliDeps = {
    readers: () => Promise.reject(new Error('no readers in this test')),
    createWebSocket: () => {
      throw new Error('unused');
    },
    output: { out: (t) => out.push(t), err: (t) => err.push(t) },
    prompter: null,
    signals: { onStop: () => () => undefined },
    now: () => Date.parse('2026-12-06T00:00:00Z'),
    os: 'linux',
  };
  return { deps, out, err };
}

describe('the command line', () => {
  it.each([
    ['0.0.0.0:1234'],
    ['192.168.1.2:1234'],
    ['example.org:1234'],
    ['127.0.0.1'],
    ['127.0.0.1:0'],
    ['127.0.0.1:70000'],
  ])('--listen %s is refused', (text) => {
    expect(typeof parseListen(text)).toBe('string');
  });

  it('defaults to 127.0.0.1 on the documented port and normalises origins', () => {
    expect(planServe([])).toEqual({
      kind: 'serve',
      host: '127.0.0.1',
      port: HELPER_DEFAULT_PORT,
      allowOrigins: [],
    });
    expect(
      planServe([
        '--listen',
        '[::1]:9999',
        '--allow-origin',
        'HTTPS://A.example:443',
        '--allow-origin',
        'http://localhost:5173',
      ]),
    ).toEqual({
      kind: 'serve',
      host: '::1',
      port: 9999,
      allowOrigins: ['https://a.example', 'http://localhost:5173'],
    });
    expect(planServe(['--allow-origin', 'https://a.example/path'])).toMatchObject({
      kind: 'usage-error',
    });
    expect(planServe(['--bogus'])).toMatchObject({ kind: 'usage-error' });
  });

  it('--list-origins and --revoke act on the config file', async () => {
    const fx = await startFixture();
    fx.store.approve(PAGE);
    const env = { CARDLEND_CONFIG_DIR: fx.configDir };
    expect(approvalsPath(env)).toBe(fx.store.path);
    const listed = captureDeps();
    expect(await runServe(['--list-origins'], listed.deps, { env })).toBe(0);
    expect(listed.out.join('')).toContain(PAGE);
    const revoked = captureDeps();
    expect(await runServe(['--revoke', PAGE], revoked.deps, { env })).toBe(0);
    expect(revoked.out.join('')).toContain(`Forgot ${PAGE}`);
    expect(fx.store.list()).toEqual([]);
    const bad = captureDeps();
    expect(await runServe(['--listen', '0.0.0.0:1'], bad.deps, { env })).toBe(2);
    expect(bad.err.join('')).toContain('this computer only');
  });

  it('uses the XDG config directory, APPDATA on Windows, Application Support on macOS', () => {
    expect(approvalsPath({ XDG_CONFIG_HOME: '/x' }, 'linux', '/home/p')).toBe(
      '/x/cardlend/helper-origins.json',
    );
    expect(approvalsPath({}, 'linux', '/home/p')).toBe(
      '/home/p/.config/cardlend/helper-origins.json',
    );
    expect(approvalsPath({}, 'darwin', '/Users/p')).toBe(
      '/Users/p/Library/Application Support/cardlend/helper-origins.json',
    );
    expect(approvalsPath({ APPDATA: 'C:/AppData' }, 'win32', 'C:/p')).toContain('cardlend');
  });
});
