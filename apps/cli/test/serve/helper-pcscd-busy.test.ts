/**
 * Against the real PC/SC stack (pcscd + vpcd with the PIV demo card, as helper-pcscd.test.ts):
 * while another PC/SC client holds the card exclusively, powering it on through the helper
 * fails as it does for the CLI's own PcscReader: the bridge gets the same code and source
 * (`SCARD_E_SHARING_VIOLATION`), so the page shows the words and reference `cardlend lend`
 * shows ("Another program is using the card").
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { bridgeErrorFromReader } from '@cardlend/bridge';
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
  dir = mkdtempSync(join(tmpdir(), 'cardlend-helper-busy-'));
});

afterAll(async () => {
  await pcscd?.stop();
  rmSync(dir, { recursive: true, force: true });
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
