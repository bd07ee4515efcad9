/**
 * Issue 13's guest proof through the page: a public page (Local Network Access granted over
 * DevTools) lends the PIV demo card of a real pcscd + vpcd through `cardlend serve`'s server
 * (in this process, the page's origin pre-approved as an administrator would) to the project's
 * Linux guest under real QEMU 7.2 and 10.0. The guest signs with pkcs11-tool (the host
 * verifies the signature); the helper stops mid-lending → the page says so and the guest sees
 * no card.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildGuest, freePort, startGuest } from '@cardlend/guest-image';
import type { GuestHandle, GuestMarker } from '@cardlend/guest-image';
import { createPivDemoCard, type PivDemoCard } from '@cardlend/card-sim';
import { startPcscd, waitForCard, type Pcscd } from '@cardlend/pcsc/testing';
import { ensureQemu10 } from '@cardlend/qemu-testbed';
import { checkPivSignature, startPcscHelper } from '@cardlend/cli/testing';
import { expect, test, type RelayHandle } from './fixtures.ts';
import { publicPage, setLoopbackPermission } from './helper-e2e.ts';

const READER = 'Virtual PCD 00 00';
const SIGNED = 'cardlend-helper-page-signature';
let pcscd: Pcscd;
let piv: PivDemoCard;

test.beforeAll(async () => {
  pcscd = await startPcscd();
  piv = await createPivDemoCard();
  await pcscd.insertCard(piv);
  await waitForCard(READER, 'present');
});

test.afterAll(async () => {
  await pcscd?.stop();
});

async function result(guest: GuestHandle, name: string): Promise<GuestMarker> {
  const find = (): GuestMarker | undefined =>
    guest.markers.find((m) => m.kind === 'RESULT' && m.fields['name'] === name);
  await guest.waitForMarker(() => find() !== undefined, 200_000);
  const m = find() as GuestMarker;
  expect(m.fields['ok'], `${name}: ${JSON.stringify(m.fields)}`).toBe('1');
  return m;
}

async function proveThroughPage(
  launchRelay: (port: number) => Promise<RelayHandle>,
  qemu: {
    qemuBinary?: string;
    qemuEnv?: Readonly<Record<string, string>>;
    qemuArgsExtra?: readonly string[];
  },
): Promise<void> {
  const image = await buildGuest();
  const vscardPort = await freePort();
  const guest = startGuest({
    image,
    vscardPort,
    timeoutMs: 280_000,
    scenario: ['atr', 'pkcs11-sign', 'until-removed'],
    args: { data: SIGNED, pin: '123456', seconds: 150, cardwait: 150 },
    ...qemu,
  });
  const dir = mkdtempSync(join(tmpdir(), 'cardlend-helper-guest-e2e-'));
  const relay = await launchRelay(vscardPort);
  const origin = `http://127.0.0.1:${relay.port}`;
  const rig = await startPcscHelper({
    configDir: dir,
    approved: [origin],
    helperName: 'cardlend e2e',
  });
  const helper = rig.server;
  const { browser, page } = await publicPage(relay.port, 'about:blank');
  try {
    await guest.waitForMarker((m) => m.kind === 'BOOT', 60_000);
    await page.goto(relay.url);
    await setLoopbackPermission(browser, origin, 'granted');
    await page.goto(`${relay.url}?helper=${encodeURIComponent(helper.url)}`);
    const panel = page.getByTestId('helper-panel');
    await expect(panel.getByTestId('helper-readers')).toContainText(READER, { timeout: 15_000 });
    await panel.getByRole('button', { name: `Lend the card in ${READER}` }).click();
    await expect(page.getByTestId('status-link')).toHaveAttribute('data-link', 'lent', {
      timeout: 30_000,
    });

    await result(guest, 'atr');
    const signature = checkPivSignature((await result(guest, 'pkcs11-sign')).fields, SIGNED);
    expect(signature.cert).toEqual(Buffer.from(piv.certificateDer));
    expect(signature.recovered).toBe(SIGNED);
    expect(signature.isSha256Valid).toBe(true);
    const log = page.getByRole('region', { name: 'Card activity', exact: true });
    await expect(log).toContainText('GENERAL AUTHENTICATE');

    // The helper stops mid-lending: the page says so; the guest keeps no card.
    await helper.close();
    await expect(panel).toContainText('The cardlend helper stopped', { timeout: 15_000 });
    await result(guest, 'until-removed');
  } finally {
    await browser.close();
    await rig.stop();
    await guest.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

test('QEMU 7.2: the page lends through the helper; the guest signs; the helper stops', async ({
  launchRelay,
}) => {
  test.setTimeout(400_000);
  await proveThroughPage(launchRelay, {});
});

test('QEMU 10.0: the same', async ({ launchRelay }) => {
  test.setTimeout(600_000);
  const q = await ensureQemu10();
  await proveThroughPage(launchRelay, {
    qemuBinary: q.binary,
    qemuEnv: q.env,
    qemuArgsExtra: q.args,
  });
});
