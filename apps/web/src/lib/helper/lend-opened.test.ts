/**
 * A page without WebUSB still lends through the helper: LendingSession.lendOpened takes the
 * helper's reader (no WebUSB check), and the helper reader as an OpenedReader says its route
 * and passes card and reader events on.
 */
import { describe, expect, it } from 'vitest';
import { parseLaunchParams } from '../state/launch-params.ts';
import { LendingSession } from '../state/lending-session.svelte.ts';
import type {
  LendingLink,
  LinkSnapshot,
  OpenedReader,
  Platform,
  ReaderNotice,
} from '../state/ports.ts';
import { fakeSockets } from './fake-helper-socket.test-support.ts';
import { HelperClient } from './helper-client.ts';
import { HELPER_ROUTE, openedHelperReader } from './helper-opened-reader.ts';
import { HelperReader } from './helper-reader.ts';

const noUsb: Platform = {
  hasWebUsb: false,
  isSecureContext: true,
  os: 'windows',
  chooseReader: () => Promise.reject(new Error('no WebUSB')),
  openVirtualReader: () => Promise.reject(new Error('unused')),
};

function fakeOpened(): OpenedReader & { lentTo: string[] } {
  const lentTo: string[] = [];
  const state: LinkSnapshot = { link: 'connecting', card: null, error: null };
  const link: LendingLink = {
    state,
    start: async () => undefined,
    stop: async () => undefined,
    onState: () => () => undefined,
    onApdu: () => () => undefined,
  };
  return {
    lentTo,
    summary: {
      name: 'Reader 0B',
      exchangeLevel: HELPER_ROUTE,
      interfaceClass: 0x0b,
      vendorId: 0,
      productId: 0,
      isVirtual: false,
    },
    lend: ({ relayUrl }) => {
      lentTo.push(relayUrl);
      return link;
    },
    onNotice: () => () => undefined,
    close: async () => undefined,
  };
}

describe('lending through the helper', () => {
  it('lends without WebUSB (Windows, class 0x0B readers)', async () => {
    const session = new LendingSession({
      platform: noUsb,
      launch: parseLaunchParams('http://127.0.0.1:8080/'),
      pageUrl: 'http://127.0.0.1:8080/',
    });
    await session.chooseReader();
    expect(session.problem?.id).toBe('no-webusb');
    session.dismissProblem();
    const reader = fakeOpened();
    await session.lendOpened(async () => reader);
    expect(session.isLending).toBe(true);
    expect(session.reader?.exchangeLevel).toBe(HELPER_ROUTE);
    expect(reader.lentTo).toHaveLength(1);
  });

  it('explains a reader the helper cannot give (another page holds it)', async () => {
    const session = new LendingSession({
      platform: noUsb,
      launch: parseLaunchParams('http://127.0.0.1:8080/'),
      pageUrl: 'http://127.0.0.1:8080/',
    });
    const { sockets, create } = fakeSockets();
    const connecting = HelperClient.connect({ url: 'ws://x', createSocket: create });
    sockets[0]!.hello(true);
    const client = await connecting;
    const lending = session.lendOpened(async () =>
      openedHelperReader(await HelperReader.open(client, 'Reader 0B')),
    );
    sockets[0]!.refuseLast('HELPER_READER_IN_USE', 'another page');
    await lending;
    expect(session.isLending).toBe(false);
    expect(session.problem?.id).toBe('helper-reader-in-use');
    expect(session.problem?.reference).toBe('HELPER_READER_IN_USE');
  });

  it('the helper reader says its route and passes events on', async () => {
    const { sockets, create } = fakeSockets();
    const connecting = HelperClient.connect({ url: 'ws://x', createSocket: create });
    const s = sockets[0]!;
    s.hello(true);
    const client = await connecting;
    const opening = HelperReader.open(client, 'Reader 0B');
    s.answer('connect', {});
    const opened = openedHelperReader(await opening);
    expect(opened.summary).toMatchObject({ name: 'Reader 0B', exchangeLevel: HELPER_ROUTE });
    const notices: ReaderNotice[] = [];
    opened.onNotice((n) => notices.push(n));
    s.message({ type: 'card', reader: 'Reader 0B', present: false });
    s.message({ type: 'card', reader: 'Other', present: true });
    s.serverClose(4503, 'HELPER_STOPPING');
    expect(notices).toEqual([{ type: 'card-removed' }, { type: 'reader-gone' }]);
  });
});
