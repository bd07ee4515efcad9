/**
 * The bridge's reader conformance suite against the page's HelperReader through the helper
 * server, whose reader is a real PcscReader on a real pcscd + vpcd (the PC/SC package's own
 * conformance harness supplies the card controls: insert, remove, unplug, hold an answer).
 */
import { afterAll, beforeAll } from 'vitest';
import { runReaderConformance } from '@cardlend/bridge/conformance';
import type { ReaderHarnessFactory } from '@cardlend/bridge/conformance';
import { startPcscd } from '@cardlend/pcsc/testing';
import type { Pcscd } from '@cardlend/pcsc/testing';
import { pcscHarnessFactory } from '../../../../packages/pcsc/test/helpers/conformance-harness.ts';
import { HelperClient } from '../../../web/src/lib/helper/helper-client.ts';
import { HelperReader } from '../../../web/src/lib/helper/helper-reader.ts';
import type { OpenedReader, ReaderService } from '../../src/ports.ts';
import { ApprovalStore, approvalsPath } from '../../src/serve/approvals.ts';
import { Pairing } from '../../src/serve/pairing.ts';
import { startHelperServer } from '../../src/serve/server.ts';
import { PAGE, pageSocket } from './serve-fixture.ts';

let pcscd: Pcscd | undefined;

beforeAll(async () => {
  pcscd = await startPcscd();
});

afterAll(async () => {
  await pcscd?.stop();
});

const pcscHarness = pcscHarnessFactory(() => {
  if (pcscd === undefined) throw new Error('the test pcscd did not start');
  return pcscd;
});

const helperOverPcscd: ReaderHarnessFactory = async (opts) => {
  const inner = await pcscHarness(opts);
  const name = 'Virtual PCD 00 00';
  // The helper's service hands out the harness's PcscReader (closing it is the harness's job).
  const r = inner.reader;
  const opened: OpenedReader = {
    getSlotStatus: (slot) => r.getSlotStatus(slot),
    powerOn: (slot) => r.powerOn(slot),
    powerOff: (slot) => r.powerOff(slot),
    transmit: (apdu, o) => r.transmit(apdu, o),
    onEvent: (listener) => r.onEvent(listener),
    close: async () => undefined,
  };
  const service: ReaderService = {
    onServiceEvent: () => () => undefined,
    list: async () => [{ name, state: 'present', atr: null }],
    open: async () => opened,
    close: async () => undefined,
  };
  const server = await startHelperServer({
    host: '127.0.0.1',
    port: 0,
    service: async () => service,
    approvals: new ApprovalStore(
      approvalsPath({ CARDLEND_CONFIG_DIR: '/nonexistent' }),
      [PAGE],
      Date.now,
    ),
    pairing: new Pairing(null),
    helperName: 'cardlend test',
    now: Date.now,
    log: () => undefined,
  });
  const client = await HelperClient.connect({ url: server.url, createSocket: pageSocket(PAGE) });
  const reader = await HelperReader.open(client, name, {
    transmitTimeoutMs: opts.answerTimeoutMs * 5,
  });
  return {
    ...inner,
    reader,
    dispose: async () => {
      client.close();
      await server.close();
      await inner.dispose();
    },
  };
};

runReaderConformance('HelperReader through cardlend serve (real pcscd + vpcd)', helperOverPcscd);
