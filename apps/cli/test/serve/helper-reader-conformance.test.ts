/**
 * The bridge's reader conformance suite against the page's HelperReader
 * (apps/web/src/lib/helper) talking over a real WebSocket on loopback to the real helper
 * server (`cardlend serve`'s), whose reader is the in-memory conformance reader
 * (memory-service.ts): insert/remove/unplug/hold act on that reader behind the helper.
 */
import { runReaderConformance } from '@cardlend/bridge/conformance';
import type { HeldAnswer, ReaderHarnessFactory } from '@cardlend/bridge/conformance';
import { HelperClient } from '../../../web/src/lib/helper/helper-client.ts';
import { HelperReader } from '../../../web/src/lib/helper/helper-reader.ts';
import { MEMORY_ATR } from './memory-service.ts';
import { PAGE, pageSocket, READER_A, startFixture } from './serve-fixture.ts';

const helperHarness: ReaderHarnessFactory = async ({ answerTimeoutMs, withCard }) => {
  const fx = await startFixture({ approved: [PAGE], answerTimeoutMs });
  const slot = fx.slots[0]!;
  slot.isCardIn = withCard;
  const client = await HelperClient.connect({ url: fx.server.url, createSocket: pageSocket(PAGE) });
  const reader = await HelperReader.open(client, READER_A, {
    transmitTimeoutMs: answerTimeoutMs * 5,
  });
  const releases: (() => Promise<void>)[] = [];
  return {
    reader,
    slot: 0,
    atr: MEMORY_ATR,
    insertCard: async () => slot.insert(),
    removeCard: async () => slot.remove(),
    unplugReader: async () => slot.unplug(),
    holdNextAnswer: (): HeldAnswer => {
      const held = slot.holdNext();
      releases.push(held.release);
      return held;
    },
    dispose: async () => {
      await Promise.all(releases.map((r) => r()));
      client.close();
      await fx.dispose();
    },
  };
};

runReaderConformance('HelperReader through cardlend serve (memory reader)', helperHarness);
