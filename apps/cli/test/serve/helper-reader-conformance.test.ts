/**
 * The bridge's reader conformance suite against the page's HelperReader
 * (apps/web/src/lib/helper) talking over a real WebSocket on loopback to the real helper
 * server (`cardlend serve`'s), whose reader is the in-memory conformance reader
 * (memory-service.ts): insert/remove/unplug/hold act on that reader behind the helper.
 */
import { MEMORY_ATR, memorySlotControls, runReaderConformance } from '@cardlend/bridge/conformance';
import type { ReaderHarnessFactory } from '@cardlend/bridge/conformance';
import { HelperClient } from '../../../web/src/lib/helper/helper-client.ts';
import { HelperReader } from '../../../web/src/lib/helper/helper-reader.ts';
import { PAGE, pageSocket, READER_A, startFixture } from './serve-fixture.ts';

const helperHarness: ReaderHarnessFactory = async ({ answerTimeoutMs, withCard }) => {
  const fx = await startFixture({ approved: [PAGE], answerTimeoutMs });
  const slot = fx.slots[0]!;
  slot.isCardIn = withCard;
  const client = await HelperClient.connect({ url: fx.server.url, createSocket: pageSocket(PAGE) });
  const reader = await HelperReader.open(client, READER_A, {
    transmitTimeoutMs: answerTimeoutMs * 5,
  });
  const controls = memorySlotControls(slot);
  return {
    reader,
    slot: 0,
    atr: MEMORY_ATR,
    ...controls,
    dispose: async () => {
      await controls.dispose();
      client.close();
      await fx.dispose();
    },
  };
};

runReaderConformance('HelperReader through cardlend serve (memory reader)', helperHarness);
