import { RelayClose } from '@cardlend/vscard';
import { describe, expect, it } from 'vitest';
import type { FakeLink } from './lending-session.fixture.ts';
import { ATR_T0, ATR_T1, FakeReader, setup } from './lending-session.fixture.ts';
import type { LinkSnapshot } from './ports.ts';

describe('LendingSession', () => {
  it('prefills the form from the URL', () => {
    const { session } = setup({}, 'http://h:1/?relay=ws://r:2/vscard&token=abc');
    expect(session.relayInput).toBe('ws://r:2/vscard');
    expect(session.tokenInput).toBe('abc');
  });

  it('lends a chosen reader to the relay and follows the link state', async () => {
    const { session, reader } = setup();
    await session.chooseReader();
    expect(reader.link?.target).toEqual({ relayUrl: 'ws://127.0.0.1:8080/vscard', token: 'tok' });
    expect(session.activity).toBe('lending');
    expect(session.isLending).toBe(true);
    expect(session.reader?.name).toBe('Test Reader');
    expect(session.link.link).toBe('connecting');
    reader.link?.emit({
      link: 'lent',
      card: { atr: ATR_T1, protocol: 1, presentedAtr: ATR_T0 },
      error: null,
    });
    expect(session.link.link).toBe('lent');
    expect(session.card).toEqual({
      atrHex: '3B 88 80 01 01 02 03 04 05 06 07 08 8F',
      protocol: 1,
      isT0Compat: true,
      presentedAtrHex: '3B 08 01 02 03 04 05 06 07 08',
      isRefusedByVm: false,
    });
    expect(session.problem).toBeNull();
  });

  it('logs APDUs without PIN bytes', async () => {
    const { session, reader } = setup();
    await session.chooseReader();
    for (const l of reader.link?.apduListeners ?? []) {
      l({
        id: 7,
        atMs: 5,
        command: Uint8Array.of(0, 0x20, 0, 0x80, 2, 0x31, 0x32),
        name: 'VERIFY',
        lc: 2,
        le: null,
        response: Uint8Array.of(0x90, 0),
        sw: 0x9000,
        swText: 'OK',
        latencyMs: 4,
        isRedacted: false,
      });
    }
    expect(session.log.rows).toHaveLength(1);
    expect(session.log.rows[0]).toMatchObject({
      id: 7,
      name: 'VERIFY',
      isRedacted: true,
      commandHex: null,
      atEpochMs: 1_700_000_000_000,
    });
  });

  it('Stop lending stops the bridge and releases the reader', async () => {
    const { session, reader } = setup();
    await session.chooseReader();
    await session.stop();
    expect(reader.link?.stopCalls).toBe(1);
    expect(reader.closed).toBe(1);
    expect(session.activity).toBe('idle');
    expect(session.isLending).toBe(false);
    expect(session.link.link).toBe('stopped');
    expect(session.problem).toBeNull();
  });

  it.each([
    {
      what: 'a class-0x0B reader blocked by the browser',
      ids: { vendorId: 0x076b, productId: 0x3021 },
      code: 'CCID_PROTECTED_CLASS',
      problem: 'protected-class',
      fixCommand: undefined,
    },
    {
      what: 'a reader held by another program, with its USB ids',
      ids: { vendorId: 0x04e6, productId: 0x5116 },
      code: 'CCID_DEVICE_BUSY',
      problem: 'device-busy',
      fixCommand: '04e6', // os: 'linux' in this platform double
    },
  ])('explains $what', async ({ ids, code, problem, fixCommand }) => {
    const { session } = setup({
      chooseReader: async (onDevice) => {
        onDevice?.(ids);
        throw Object.assign(new Error('raw driver text'), { code });
      },
    });
    await session.chooseReader();
    expect(session.problem?.id).toBe(problem);
    expect(session.activity).toBe('idle');
    expect(JSON.stringify(session.problem)).not.toContain('raw driver text');
    if (fixCommand !== undefined) expect(session.problem?.fixes[1]?.command).toContain(fixCommand);
  });

  it('explains a browser without WebUSB and does not open a chooser', async () => {
    let opened = false;
    const { session } = setup({
      hasWebUsb: false,
      chooseReader: async () => {
        opened = true;
        throw new Error('unreachable');
      },
    });
    await session.chooseReader();
    expect(opened).toBe(false);
    expect(session.problem?.id).toBe('no-webusb');
  });

  it('refuses an invalid relay address before touching the reader', async () => {
    const { session, reader } = setup();
    session.relayInput = 'ftp://nope';
    await session.tryVirtualCard();
    expect(session.problem?.id).toBe('relay-url-invalid');
    expect(reader.link).toBeNull();
  });

  const CARD_T0 = { atr: ATR_T0, protocol: 0 as const, presentedAtr: ATR_T0 };

  it.each<{ what: string; snapshot: LinkSnapshot; problem: string | null; isLending: boolean }>([
    {
      what: '"VM in use" when the relay closes with 4009',
      snapshot: {
        link: 'failed',
        card: null,
        error: { code: 'RELAY_CLOSED', message: 'x' },
        closeCode: RelayClose.VM_IN_USE,
      },
      problem: 'vm-in-use',
      isLending: false,
    },
    {
      what: 'a refusal reported as link "refused" with a bridge code (second tab for the same VM)',
      snapshot: {
        link: 'refused',
        card: null,
        error: { code: 'BRIDGE_VM_IN_USE', message: 'x' },
        closeCode: RelayClose.VM_IN_USE,
      },
      problem: 'vm-in-use',
      isLending: false,
    },
    {
      what: 'nothing yet while the bridge retries (the cause waits as pendingProblem)',
      snapshot: {
        link: 'reconnecting',
        card: null,
        error: { code: 'BRIDGE_VM_UNREACHABLE', message: 'x' },
        closeCode: RelayClose.VM_UNREACHABLE,
      },
      problem: null,
      isLending: true,
    },
    {
      what: 'nothing for a normal stop reported by the bridge',
      snapshot: {
        link: 'stopped',
        card: null,
        error: { code: 'BRIDGE_RELAY_CLOSED', message: 'x' },
        closeCode: 1000,
      },
      problem: null,
      isLending: false,
    },
    {
      what: 'an ATR the VM refused',
      snapshot: { link: 'refused', card: CARD_T0, error: null },
      problem: 'atr-refused',
      isLending: true,
    },
    {
      what: 'card errors reported by the bridge',
      snapshot: { link: 'failed', card: null, error: { code: 'CCID_CARD_MUTE', message: 'x' } },
      problem: 'card-mute',
      isLending: false,
    },
  ])('link snapshot: explains $what', async ({ snapshot, problem, isLending }) => {
    const { session, reader } = setup();
    await session.tryVirtualCard();
    reader.link?.emit(snapshot);
    expect(session.problem?.id ?? null).toBe(problem);
    await Promise.resolve(); // the reader is released after the ended link's listeners ran
    expect(session.isLending).toBe(isLending);
    expect(reader.closed).toBe(isLending ? 0 : 1);
  });

  it('explains a link error by the source the bridge kept, not by its own code', async () => {
    const { session, reader } = setup();
    await session.tryVirtualCard();
    reader.link?.emit({
      link: 'lent',
      card: null,
      error: {
        code: 'BRIDGE_READER_TIMEOUT',
        message: 'x',
        source: { kind: 'ccid', code: 'CCID_TIMEOUT' },
      },
    });
    expect(session.problem).toMatchObject({ id: 'reader-error', reference: 'CCID_TIMEOUT' });
  });

  it.each<{ what: string; problem: LinkSnapshot; recovered: LinkSnapshot }>([
    {
      what: 'a refused ATR once a card is accepted',
      problem: { link: 'refused', card: CARD_T0, error: null },
      recovered: { link: 'lent', card: CARD_T0, error: null },
    },
  ])('clears $what', async ({ problem, recovered }) => {
    const { session, reader } = setup();
    await session.tryVirtualCard();
    reader.link?.emit(problem);
    expect(session.problem).not.toBeNull();
    reader.link?.emit(recovered);
    expect(session.problem).toBeNull();
    expect(session.isLending).toBe(true);
  });

  it('explains an unplugged reader', async () => {
    const { session, reader } = setup();
    await session.chooseReader();
    for (const l of reader.notices) l({ type: 'reader-gone' });
    expect(session.problem?.id).toBe('reader-gone');
  });

  it('pulls and re-inserts the virtual card', async () => {
    const { session, card } = setup();
    await session.tryVirtualCard();
    expect(session.virtualCard).toEqual({ isInserted: true });
    session.pullVirtualCard();
    session.pullVirtualCard();
    expect(session.virtualCard).toEqual({ isInserted: false });
    session.insertVirtualCard();
    expect(card.events).toEqual(['remove', 'insert']);
    expect(session.virtualCard).toEqual({ isInserted: true });
  });

  it('ignores a second start while lending', async () => {
    let calls = 0;
    const { session } = setup({
      openVirtualReader: async () => {
        calls++;
        const r = new FakeReader();
        return { reader: r, card: { isInserted: true, insert() {}, remove() {} } };
      },
    });
    await session.tryVirtualCard();
    await session.tryVirtualCard();
    await session.chooseReader();
    expect(calls).toBe(1);
  });

  it('shows no problem when Stop lending cuts a pending start short', async () => {
    const reader = new FakeReader();
    let rejectStart: (e: unknown) => void = () => undefined;
    const lend = reader.lend.bind(reader);
    reader.lend = (opts) => {
      const link = lend(opts) as FakeLink;
      link.start = () =>
        new Promise<void>((_, reject) => {
          rejectStart = reject;
        });
      return link;
    };
    const { session } = setup({
      openVirtualReader: async () => ({
        reader,
        card: { isInserted: true, insert() {}, remove() {} },
      }),
    });
    const starting = session.tryVirtualCard();
    await Promise.resolve();
    await Promise.resolve();
    expect(session.isLending).toBe(true);
    await session.stop();
    rejectStart(Object.assign(new Error('x'), { code: 'BRIDGE_RELAY_CLOSED' }));
    await starting;
    expect(session.problem).toBeNull();
    expect(session.isLending).toBe(false);
    expect(reader.closed).toBe(1);
  });

  it('explains a start failure thrown by the bridge', async () => {
    const reader = new FakeReader();
    const lend = reader.lend.bind(reader);
    reader.lend = (opts) => {
      const link = lend(opts) as FakeLink;
      link.startError = Object.assign(new Error('x'), { code: 'CCID_CARD_ABSENT' });
      return link;
    };
    const { session } = setup({
      openVirtualReader: async () => ({
        reader,
        card: { isInserted: false, insert() {}, remove() {} },
      }),
    });
    await session.tryVirtualCard();
    expect(session.problem?.id).toBe('card-absent');
  });
});
