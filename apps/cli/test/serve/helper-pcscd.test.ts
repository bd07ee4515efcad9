/**
 * The helper against the real PC/SC stack: pcscd + vpcd in a private namespace with the PIV
 * demo card (@cardlend/pcsc/testing), the server with the CLI's PC/SC reader service, the
 * page's HelperClient + HelperReader over a loopback WebSocket: list, power on, SELECT PIV,
 * card pulled → card-removed, the helper stopping → reader-gone and calls fail READER_GONE.
 * And a card another PC/SC client holds exclusively: powering it on through the helper fails
 * as it does for the CLI's own PcscReader, the bridge getting the same code and source
 * (`SCARD_E_SHARING_VIOLATION`), so the page shows the words and reference `cardlend lend`
 * shows ("Another program is using the card").
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { bridgeErrorFromReader } from '@cardlend/bridge';
import type { BridgeReaderEvent } from '@cardlend/bridge';
import { createPivDemoCard } from '@cardlend/card-sim';
import { openReader } from '@cardlend/pcsc';
import { startPcscd } from '@cardlend/pcsc/testing';
import type { Pcscd } from '@cardlend/pcsc/testing';
import { explain } from '@cardlend/problems';
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

const failureOf = (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    () => expect.unreachable('the card was powered on while another program held it'),
    (e: unknown) => e,
  );

it('a card held by another program: the helper route fails with the CLI’s code and source', async () => {
  await pcscd.insertCard(await createPivDemoCard());
  const holder = await openReader(READER);
  const direct = await openReader(READER);
  const helper = await startPcscHelper({ configDir: dir, approved: [PAGE] });
  try {
    await holder.powerOn(); // exclusive, like a lent card
    const client = await HelperClient.connect({
      url: helper.server.url,
      createSocket: pageSocket(PAGE),
    });
    const reader = await HelperReader.open(client, READER);
    const viaHelper = bridgeErrorFromReader(await failureOf(reader.powerOn()));
    const viaCli = bridgeErrorFromReader(await failureOf(direct.powerOn()));
    expect(viaCli.source).toEqual({ kind: 'pcsc', code: 'SCARD_E_SHARING_VIOLATION' });
    expect(viaHelper.code).toBe(viaCli.code);
    expect(viaHelper.source).toEqual(viaCli.source);
    const cliWords = explain(viaCli.source, { client: 'cli', os: 'linux' });
    const pageWords = explain(viaHelper.source, { client: 'page', os: 'linux' });
    expect(pageWords).toMatchObject({
      id: 'reader-in-use',
      title: 'Another program is using the card',
      reference: 'SCARD_E_SHARING_VIOLATION',
    });
    expect([pageWords.title, pageWords.reference]).toEqual([cliWords.title, cliWords.reference]);
    await reader.close();
    client.close();
  } finally {
    await helper.stop();
    await direct.close();
    await holder.close();
  }
});
