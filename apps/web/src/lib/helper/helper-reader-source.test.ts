/**
 * A reader failure through the helper keeps its PC/SC code: the helper's `error` carries it as
 * `source`, the HelperReader raises it as `sourceCode` (as PcscError does), so the bridge's
 * `bridgeErrorFromReader` gives the PC/SC source and the page says what `cardlend lend` says
 * ("Another program is using the card", SCARD_E_SHARING_VIOLATION). A malformed source from a
 * hostile helper is dropped (the reader code's words), and an older helper's errors are
 * explained as before.
 */
import { describe, expect, it } from 'vitest';
import { bridgeErrorFromReader } from '@cardlend/bridge';
import { classifyError, explainFailure } from '../errors/explain.ts';
import { fakeSockets } from './fake-helper-socket.test-support.ts';
import type { FakeHelperSocket } from './fake-helper-socket.test-support.ts';
import { HelperClient } from './helper-client.ts';
import { HelperReader, HelperReaderError } from './helper-reader.ts';

const READER = 'Virtual PCD 00 00';
const SHARING = 'SCARD_E_SHARING_VIOLATION';

/** A page connected to a scripted helper, holding READER. */
async function openedReader(): Promise<{ s: FakeHelperSocket; reader: HelperReader }> {
  const { sockets, create } = fakeSockets();
  const connecting = HelperClient.connect({ url: 'ws://127.0.0.1:1/x', createSocket: create });
  const s = sockets[0]!;
  s.hello(true);
  const client = await connecting;
  const opening = HelperReader.open(client, READER);
  s.answer('connect', {});
  return { s, reader: await opening };
}

/** The error a power-on gets when the helper answers it with `error`. */
async function powerOnFailure(error: Record<string, unknown>): Promise<HelperReaderError> {
  const { s, reader } = await openedReader();
  const powering = reader.powerOn();
  const id = s.sent.at(-1)?.['id'];
  s.message({ type: 'error', id, ...error });
  const e: unknown = await powering.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(HelperReaderError);
  return e as HelperReaderError;
}

const busy = {
  code: 'CCID_DEVICE_BUSY',
  message: 'SCardConnect failed (SCARD_E_SHARING_VIOLATION)',
};

describe('a PC/SC source through the helper', () => {
  it('reaches the bridge as a PC/SC reader gives it, and the page says the card words', async () => {
    const e = await powerOnFailure({ ...busy, source: { kind: 'pcsc', code: SHARING } });
    expect(e).toMatchObject({ code: 'CCID_DEVICE_BUSY', sourceCode: SHARING, helperCode: null });
    // what the CLI's PcscReader raises for the same failure: its CCID code and sourceCode
    const direct = bridgeErrorFromReader({ code: 'CCID_DEVICE_BUSY', sourceCode: SHARING });
    const viaHelper = bridgeErrorFromReader(e);
    expect(viaHelper.code).toBe('BRIDGE_READER_BUSY');
    expect(viaHelper.source).toEqual({ kind: 'pcsc', code: SHARING });
    expect(viaHelper.source).toEqual(direct.source);
    const words = explainFailure(viaHelper.source, 'linux');
    expect(words).toMatchObject({
      id: 'reader-in-use',
      title: 'Another program is using the card',
      reference: SHARING,
    });
  });

  it.each<[string, unknown]>([
    ['another kind', { kind: 'ccid', code: 'CCID_CARD_ABSENT' }],
    ['a code that is no PC/SC name', { kind: 'pcsc', code: 'Format the disk now' }],
    ['an extra field', { kind: 'pcsc', code: SHARING, words: 'Call 555-0100' }],
    ['a number', 0x8010000b],
  ])('drops a malformed source from a hostile helper (%s)', async (_, source) => {
    const e = await powerOnFailure({ ...busy, source });
    expect(e).toMatchObject({ code: 'CCID_DEVICE_BUSY', sourceCode: undefined });
    const source2 = bridgeErrorFromReader(e).source;
    expect(source2).toEqual({ kind: 'ccid', code: 'CCID_DEVICE_BUSY' });
    expect(explainFailure(source2, 'linux').title).toBe('Another program is using the reader');
  });

  it('explains an older helper’s error (no source) as before', async () => {
    const e = await powerOnFailure(busy);
    expect(e.sourceCode).toBeUndefined();
    expect(e.source).toBeUndefined();
    expect(bridgeErrorFromReader(e).source).toEqual({ kind: 'ccid', code: 'CCID_DEVICE_BUSY' });
  });

  it('keeps the helper’s own refusal for the page, and the PC/SC code for the bridge', async () => {
    const e = await powerOnFailure({
      code: 'HELPER_NO_SERVICE',
      message: 'no service',
      source: { kind: 'pcsc', code: 'SCARD_E_NO_SERVICE' },
    });
    expect(e).toMatchObject({
      code: 'CCID_TRANSFER_FAILED',
      helperCode: 'HELPER_NO_SERVICE',
      sourceCode: 'SCARD_E_NO_SERVICE',
      source: { kind: 'helper', code: 'HELPER_NO_SERVICE' },
    });
    expect(bridgeErrorFromReader(e).source).toEqual({ kind: 'pcsc', code: 'SCARD_E_NO_SERVICE' });
  });

  it('explains a reader that could not be taken by its PC/SC code (opening, outside the bridge)', async () => {
    const { sockets, create } = fakeSockets();
    const connecting = HelperClient.connect({ url: 'ws://127.0.0.1:1/x', createSocket: create });
    sockets[0]!.hello(true);
    const opening = HelperReader.open(await connecting, READER);
    sockets[0]!.message({
      type: 'error',
      id: sockets[0]!.sent.at(-1)?.['id'],
      ...busy,
      source: { kind: 'pcsc', code: SHARING },
    });
    const e: unknown = await opening.catch((err: unknown) => err);
    expect(classifyError(e)).toEqual({ kind: 'pcsc', code: SHARING });
  });

  it('drops the PC/SC code once the reader is gone (the words of a gone reader)', async () => {
    const { s, reader } = await openedReader();
    const powering = reader.powerOn();
    const id = s.sent.at(-1)?.['id'];
    s.message({ type: 'reader-gone', reader: READER });
    s.message({ type: 'error', id, ...busy, source: { kind: 'pcsc', code: SHARING } });
    const e = (await powering.catch((err: unknown) => err)) as HelperReaderError;
    expect(e).toMatchObject({ code: 'CCID_READER_GONE', sourceCode: undefined });
    expect(bridgeErrorFromReader(e).source).toEqual({ kind: 'ccid', code: 'CCID_READER_GONE' });
  });
});
