/**
 * Lending through the helper, as the page does it: the bridge (CardBridge) lends the page's
 * HelperReader — the helper serving a real pcscd + vpcd PIV demo card — through the real
 * relay to a VSCard VM stand-in (../helpers/fake-vm.ts). The guest's SELECT reaches the card;
 * the helper stopping mid-lending → the bridge fails with the reader gone (helper code kept
 * for the page's words) and the guest sees the card removed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createPivDemoCard } from '@cardlend/card-sim';
import { startPcscd } from '@cardlend/pcsc/testing';
import type { Pcscd } from '@cardlend/pcsc/testing';
import type { RelayServer } from '@cardlend/relay';
import { HelperClient } from '../../../web/src/lib/helper/helper-client.ts';
import { HelperReader } from '../../../web/src/lib/helper/helper-reader.ts';
import { FakeVm } from '../helpers/fake-vm.ts';
import { startPcscHelper } from '../helpers/pcsc-helper.ts';
import { bridgeToRelay, startTestRelay } from '../helpers/relay-rig.ts';
import { pageSocket } from './serve-fixture.ts';

const PAGE = 'https://lend.example.org';
const READER = 'Virtual PCD 00 00';
const SELECT_PIV = Uint8Array.from([
  0x00, 0xa4, 0x04, 0x00, 0x09, 0xa0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x10, 0x00, 0x00,
]);
let pcscd: Pcscd;
let vm: FakeVm;
let relay: RelayServer;
let dir: string;

beforeAll(async () => {
  pcscd = await startPcscd();
  await pcscd.insertCard(await createPivDemoCard());
  vm = await FakeVm.start();
  dir = mkdtempSync(join(tmpdir(), 'cardlend-helper-lend-'));
  relay = await startTestRelay({ vmPort: vm.port, staticDir: dir });
});

afterAll(async () => {
  await relay?.close();
  await vm?.close();
  await pcscd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

it('lends through the helper; the helper stopping removes the guest card', async () => {
  const helper = await startPcscHelper({ configDir: dir, approved: [PAGE] });
  const { server } = helper;
  const client = await HelperClient.connect({ url: server.url, createSocket: pageSocket(PAGE) });
  await expect
    .poll(async () => (await client.request({ type: 'list' })).readers, { timeout: 15_000 })
    .toContainEqual(expect.objectContaining({ name: READER, card: 'present' }));
  const reader = await HelperReader.open(client, READER);
  const bridge = bridgeToRelay(reader, relay);
  try {
    await bridge.start();
    await vm.until(() => vm.atr !== null, 'an ATR');
    const answer = await vm.guestCommand(SELECT_PIV);
    expect(answer?.slice(-2)).toEqual(Uint8Array.of(0x90, 0x00));
    await server.close(); // the helper stops mid-lending
    await vm.until(() => vm.types().includes('CardRemove'), 'CardRemove');
    await expect.poll(() => bridge.state.error?.code ?? null, { timeout: 10_000 }).not.toBeNull();
    expect(reader.isGone).toBe(true);
    expect(reader.goneBecause).toBe('HELPER_STOPPING');
  } finally {
    await bridge.stop();
    await helper.stop();
  }
});
