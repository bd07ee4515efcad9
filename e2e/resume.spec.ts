/**
 * Issue 14 §1: a helpdesk link (one-time token) survives a network blip. The page talks to the
 * relay through a TCP proxy the test can cut while the relay stays up; the page reconnects
 * with the relay's resume ticket (the token is spent) and the same lending session goes on:
 * QEMU sees the card announced again and never a CardRemove or ReaderRemove in between.
 */
import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import type { Locator, Page } from '@playwright/test';
import type { QemuHandle } from '@cardlend/qemu-testbed';
import { expect, mintToken, test, type LaunchTokenRelay, type RelayHandle } from './fixtures.ts';

interface CuttableProxy {
  port: number;
  cut: () => number;
  /** While true, new connections are reset at once (the network is down for the page). */
  isDown: boolean;
  close: () => Promise<void>;
}

/** A TCP proxy to `targetPort` whose connections can all be cut at once (the relay stays up). */
async function startCuttableProxy(targetPort: number): Promise<CuttableProxy> {
  const live = new Set<net.Socket>();
  const state = { isDown: false };
  const server = net.createServer((client) => {
    if (state.isDown) {
      client.on('error', () => client.destroy());
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect(targetPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      live.add(s);
      s.on('error', () => s.destroy());
      s.on('close', () => live.delete(s));
    }
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    get isDown() {
      return state.isDown;
    },
    set isDown(v: boolean) {
      state.isDown = v;
    },
    cut: () => {
      const n = live.size;
      // A reset, not a FIN: neither side gets a WebSocket close frame (both see 1006).
      for (const s of live) s.resetAndDestroy();
      return n;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of live) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * A token relay (with `relayArgs`) behind a cuttable proxy; the page opens a link minted for
 * the proxy's address and lends the virtual card until QEMU accepts its ATR. The caller closes
 * the proxy (closed here when lending does not get that far).
 */
async function lendThroughCuttableProxy(
  page: Page,
  qemu: QemuHandle,
  launchTokenRelay: LaunchTokenRelay,
  relayArgs: readonly string[] = [],
): Promise<{ relay: RelayHandle; proxy: CuttableProxy; status: Locator }> {
  const { relay, secretFile } = await launchTokenRelay(relayArgs);
  const proxy = await startCuttableProxy(relay.port);
  try {
    const { link } = await mintToken({ secretFile, baseUrl: `http://127.0.0.1:${proxy.port}/` });
    await page.goto(link);
    await page.getByRole('button', { name: 'Try a virtual card' }).click();
    const status = page.getByTestId('status-link');
    await expect(status).toHaveAttribute('data-link', 'lent', { timeout: 20_000 });
    await qemu.waitForLog(/atr passes check/, 10_000);
    return { relay, proxy, status };
  } catch (e) {
    await proxy.close();
    throw e;
  }
}

test('a cut connection resumes the same lending session with a one-time token', async ({
  page,
  qemu,
  launchTokenRelay,
  snap,
}) => {
  const { relay, proxy, status } = await lendThroughCuttableProxy(page, qemu, launchTokenRelay);
  try {
    await snap(page, 'lent');

    const mark = qemu.output.length;
    expect(proxy.cut()).toBeGreaterThan(0);
    // The page comes back by itself with the ticket: lent again, in the same session.
    await qemu.waitForLog(/VSC_ATR \d+/, 20_000, mark);
    await expect(status).toHaveAttribute('data-link', 'lent', { timeout: 20_000 });
    await expect(page.getByText('Connection back, same session')).toBeVisible();
    await expect(page.getByRole('alert')).toHaveCount(0);
    await snap(page, 'resumed');
    const between = qemu.output.slice(mark).join('\n');
    expect(between).not.toMatch(/VSC_CardRemove/);
    expect(between).not.toMatch(/CCID Detach/);
    expect(relay.output.join('\n')).toMatch(/"resumed"/);

    // The lending session is still the person's to end: Stop removes card and reader.
    const beforeStop = qemu.output.length;
    await page.getByRole('button', { name: 'Stop lending' }).click();
    await qemu.waitForLog(/VSC_CardRemove/, 10_000, beforeStop);
    await qemu.waitForLog(/CCID Detach/, 10_000, beforeStop);
    await expect(status).toHaveAttribute('data-link', 'stopped');
  } finally {
    await proxy.close();
  }
});

test('a page that comes back after the grace period is told the session cannot be resumed', async ({
  page,
  qemu,
  launchTokenRelay,
  snap,
}, testInfo) => {
  const configFile = testInfo.outputPath('relay.json');
  await writeFile(configFile, JSON.stringify({ resumeGraceMs: 1000 }));
  const { proxy, status } = await lendThroughCuttableProxy(page, qemu, launchTokenRelay, [
    '--config',
    configFile,
  ]);
  try {
    const mark = qemu.output.length;
    proxy.isDown = true; // the network stays down longer than the relay's grace
    proxy.cut();
    await expect(page.getByText('Reconnecting to the same session')).toBeVisible({
      timeout: 10_000,
    });
    await snap(page, 'resuming');
    await qemu.waitForLog(/VSC_CardRemove/, 10_000, mark); // the grace ended: card removed
    await qemu.waitForLog(/CCID Detach/, 10_000, mark);
    proxy.isDown = false;
    const alert = page.getByRole('alert');
    await expect(alert).toContainText('This lending session cannot be resumed', {
      timeout: 30_000,
    });
    await expect(alert).toContainText('4016');
    await expect(status).not.toHaveAttribute('data-link', 'lent');
    await expect(page.getByRole('button', { name: 'Stop lending' })).toHaveCount(0);
    await snap(page, 'cannot-resume');
  } finally {
    await proxy.close();
  }
});
