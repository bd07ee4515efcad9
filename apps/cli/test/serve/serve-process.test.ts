/**
 * `cardlend serve` as a real process (the esbuild bundle, as `npx cardlend serve` runs it)
 * against a real pcscd + vpcd PIV demo card: the banner, an approved page lists the readers,
 * an unapproved one is refused without names, SIGTERM → every page closed, exit 0; a
 * non-loopback --listen is refused.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createPivDemoCard } from '@cardlend/card-sim';
import { startPcscd, waitForCard } from '@cardlend/pcsc/testing';
import type { Pcscd } from '@cardlend/pcsc/testing';
import { HelperClient } from '../../../web/src/lib/helper/helper-client.ts';
import type { HelperClientEvent } from '../../../web/src/lib/helper/helper-client.ts';
import { ensureBundle, spawnCli } from '../helpers/cli-process.ts';
import { PAGE, pageSocket } from './serve-fixture.ts';

let pcscd: Pcscd;
let dir: string;

beforeAll(async () => {
  ensureBundle();
  pcscd = await startPcscd();
  await pcscd.insertCard(await createPivDemoCard());
  await waitForCard(pcscd.readers[0], 'present');
  dir = mkdtempSync(path.join(os.tmpdir(), 'cardlend-serve-process-'));
}, 120_000);

afterAll(async () => {
  await pcscd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

it('serves the readers to an approved page, nothing to others; SIGTERM → exit 0', async () => {
  const port = await freePort();
  const run = spawnCli(['serve', '--listen', `127.0.0.1:${port}`, '--allow-origin', PAGE], {
    env: { ...process.env, CARDLEND_CONFIG_DIR: dir },
  });
  try {
    await expect
      .poll(() => run.stderr.join('\n'), { timeout: 15_000 })
      .toContain(`listening on ws://127.0.0.1:${port}/cardlend-helper`);
    const url = `ws://127.0.0.1:${port}/cardlend-helper`;
    const page = await HelperClient.connect({ url, createSocket: pageSocket(PAGE) });
    expect(page.approved).toBe(true);
    await expect
      .poll(async () => (await page.request({ type: 'list' })).readers, { timeout: 15_000 })
      .toContainEqual(expect.objectContaining({ name: 'Virtual PCD 00 00', card: 'present' }));
    const stranger = await HelperClient.connect({
      url,
      createSocket: pageSocket('https://evil.example.com'),
    });
    expect(stranger.approved).toBe(false);
    await expect(stranger.request({ type: 'list' })).rejects.toMatchObject({
      code: 'HELPER_ORIGIN_NOT_APPROVED',
    });
    const closed = new Promise<HelperClientEvent>((resolve) =>
      page.onEvent((e) => e.type === 'closed' && resolve(e)),
    );
    run.child.kill('SIGTERM');
    expect(await closed).toMatchObject({ code: 4503, helperCode: 'HELPER_STOPPING' });
    expect((await run.exit).code, run.transcript()).toBe(0);
    expect(run.stderr.join('\n')).toContain('stopped');
  } finally {
    run.child.kill('SIGKILL');
  }
});

it('refuses a non-loopback --listen (exit 2) and prints its help', async () => {
  const bad = spawnCli(['serve', '--listen', '0.0.0.0:28163']);
  expect((await bad.exit).code).toBe(2);
  expect(bad.stderr.join('\n')).toContain('this computer only');
  const help = spawnCli(['serve', '--help']);
  expect((await help.exit).code).toBe(0);
  expect(help.stdout.join('\n')).toContain('--allow-origin');
});
