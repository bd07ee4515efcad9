/**
 * The helper against the real PC/SC stack: pcscd + vpcd in a private namespace with the PIV
 * demo card (@cardlend/pcsc/testing), the server with the CLI's PC/SC reader service, the
 * page's HelperClient + HelperReader over a loopback WebSocket: list, power on, SELECT PIV,
 * card pulled → card-removed, the helper stopping → reader-gone and calls fail READER_GONE.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { BridgeReaderEvent } from '@cardlend/bridge';
import { createPivDemoCard } from '@cardlend/card-sim';
import { startPcscd } from '@cardlend/pcsc/testing';
import type { Pcscd } from '@cardlend/pcsc/testing';
import { HelperClient } from '../../../web/src/lib/helper/helper-client.ts';
import { HelperReader } from '../../../web/src/lib/helper/helper-reader.ts';
import { startPcscHelper } from '../helpers/pcsc-helper.ts';
import { pageSocket } from './serve-fixture.ts';

const PAGE = 'https://lend.example.org';
const READER = 'Virtual PCD 00 00';
let pcscd: Pcscd;
let dir: string;

beforeAll(async () => {
  pcscd = await startPcscd();
  dir = mkdtempSync(join(tmpdir(), 'cardlend-helper-pcscd-'));
});

afterAll(async () => {
  await pcscd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

it('lends the PIV demo card of a real pcscd through the helper, and tells the end', async () => {
  const card = await pcscd.insertCard(await createPivDemoCard());
  const helper = await startPcscHelper({ configDir: dir, approved: [PAGE] });
  const { server } = helper;
  try {
    const client = await HelperClient.connect({ url: server.url, createSocket: pageSocket(PAGE) });
    expect(client.approved).toBe(true);
    // the helper's PC/SC context reports the card shortly after it opens
    await expect
      .poll(async () => (await client.request({ type: 'list' })).readers, { timeout: 15_000 })
      .toContainEqual(expect.objectContaining({ name: READER, card: 'present' }));
    const reader = await HelperReader.open(client, READER);
    const events: BridgeReaderEvent[] = [];
    reader.onEvent((e) => events.push(e));
    const powered = await reader.powerOn();
    expect(powered.atr.length).toBeGreaterThan(1);
    const select = Uint8Array.from([
      0x00, 0xa4, 0x04, 0x00, 0x09, 0xa0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x10, 0x00, 0x00,
    ]);
    const answer = await reader.transmit(select);
    expect(answer.slice(-2)).toEqual(Uint8Array.of(0x90, 0x00));
    await card.remove();
    await expect
      .poll(() => events.map((e) => e.type), { timeout: 10_000 })
      .toContain('card-removed');
    await server.close();
    await expect.poll(() => events.map((e) => e.type)).toContain('reader-gone');
    await expect(reader.transmit(select)).rejects.toMatchObject({
      code: 'CCID_READER_GONE',
      helperCode: 'HELPER_STOPPING',
    });
  } finally {
    await helper.stop();
  }
});
