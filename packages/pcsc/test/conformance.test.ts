/**
 * The bridge's reader conformance suite against PcscReader on a real pcscd + vpcd.
 */
import { afterAll, beforeAll } from 'vitest';
import { runReaderConformance } from '@cardlend/bridge/conformance';
import { startPcscd } from '../test-support/index.ts';
import type { Pcscd } from '../test-support/index.ts';
import { pcscHarnessFactory } from './helpers/conformance-harness.ts';

let pcscd: Pcscd | undefined;

beforeAll(async () => {
  pcscd = await startPcscd();
});

afterAll(async () => {
  await pcscd?.stop();
});

runReaderConformance(
  'PcscReader on pcsc-mini (pcscd + vpcd)',
  pcscHarnessFactory(() => {
    if (pcscd === undefined) throw new Error('the test pcscd did not start');
    return pcscd;
  }),
);
