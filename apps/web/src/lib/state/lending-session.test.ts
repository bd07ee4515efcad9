import { RelayClose } from '@cardlend/vscard';
import { describe, expect, it } from 'vitest';
import { parseLaunchParams } from './launch-params.ts';
import { LendingSession } from './lending-session.svelte.ts';
import type {
  ApduRecord,
  LendingLink,
  LinkSnapshot,
  OpenedReader,
  Platform,
  ReaderNotice,
  VirtualCardControls,
} from './ports.ts';

const ATR_T1 = Uint8Array.of(
  0x3b,
  0x88,
  0x80,
  0x01,
  0x01,
  0x02,
  0x03,
  0x04,
  0x05,
  0x06,
  0x07,
  0x08,
  0x8f,
);
const ATR_T0 = Uint8Array.of(0x3b, 0x08, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08);

class FakeLink implements LendingLink {
  state: LinkSnapshot = { link: 'idle', card: null, error: null };
  readonly stateListeners = new Set<(s: LinkSnapshot) => void>();
  readonly apduListeners = new Set<(e: ApduRecord) => void>();
  startCalls = 0;
  stopCalls = 0;
  startError: unknown = null;
  readonly target: { relayUrl: string; token: string };
  constructor(target: { relayUrl: string; token: string }) {
    this.target = target;
  }
  async start(): Promise<void> {
    this.startCalls++;
    if (this.startError !== null) throw this.startError;
    this.emit({ link: 'connecting', card: null, error: null });
  }
  async stop(): Promise<void> {
    this.stopCalls++;
    this.emit({ ...this.state, link: 'stopped', card: null, closeCode: 1000 });
  }
  emit(s: LinkSnapshot): void {
    this.state = s;
    for (const l of this.stateListeners) l(s);
  }
  onState(l: (s: LinkSnapshot) => void): () => void {
    this.stateListeners.add(l);
    return () => this.stateListeners.delete(l);
  }
  onApdu(l: (e: ApduRecord) => void): () => void {
    this.apduListeners.add(l);
    return () => this.apduListeners.delete(l);
  }
}

class FakeReader implements OpenedReader {
  readonly summary = {
    name: 'Test Reader',
    exchangeLevel: 'short-apdu',
    interfaceClass: 0xff,
    vendorId: 1,
    productId: 2,
    isVirtual: false,
  };
  link: FakeLink | null = null;
  closed = 0;
  readonly notices = new Set<(n: ReaderNotice) => void>();
  lend(opts: { relayUrl: string; token: string }): LendingLink {
    this.link = new FakeLink(opts);
    return this.link;
  }
  onNotice(l: (n: ReaderNotice) => void): () => void {
    this.notices.add(l);
    return () => this.notices.delete(l);
  }
  async close(): Promise<void> {
    this.closed++;
  }
}

function setup(over: Partial<Platform> = {}, url = 'http://127.0.0.1:8080/?token=tok') {
  const reader = new FakeReader();
  const card: VirtualCardControls & { events: string[] } = {
    events: [],
    isInserted: true,
    insert() {
      this.events.push('insert');
    },
    remove() {
      this.events.push('remove');
    },
  };
  const platform: Platform = {
    hasWebUsb: true,
    isSecureContext: true,
    os: 'linux',
    chooseReader: async (onDevice) => {
      onDevice?.({ vendorId: 1, productId: 2 });
      return reader;
    },
    openVirtualReader: async () => ({ reader, card }),
    ...over,
  };
  const session = new LendingSession({
    platform,
    launch: parseLaunchParams(url),
    pageUrl: url,
    now: () => 1_700_000_000_000,
  });
  return { session, reader, card };
}

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

  describe('while the bridge retries (issue 14 §4, §1)', () => {
    const lost: LinkSnapshot = {
      link: 'reconnecting',
      card: null,
      error: { code: 'BRIDGE_VM_UNREACHABLE', message: 'x' },
      closeCode: RelayClose.VM_UNREACHABLE,
      reconnectAttempt: 2,
      nextRetryAtMs: 1_700_000_001_000,
    };

    it('holds the error back as pendingProblem and shows the attempt of N', async () => {
      const { session, reader } = setup();
      await session.tryVirtualCard();
      reader.link?.emit({ link: 'lent', card: null, error: null });
      reader.link?.emit(lost);
      expect(session.problem).toBeNull();
      expect(session.pendingProblem?.id).toBe('vm-unreachable');
      expect(session.reconnect).toEqual({
        attempt: 2,
        maxAttempts: 10,
        nextRetryAtMs: 1_700_000_001_000,
      });
      // Connecting again after having been lent is still retrying.
      const { reconnectAttempt: _attempt, ...withoutAttempt } = lost;
      reader.link?.emit({ ...withoutAttempt, link: 'connecting' });
      expect(session.problem).toBeNull();
      expect(session.reconnect).toBeNull();
      reader.link?.emit({ link: 'lent', card: null, error: null });
      expect(session.pendingProblem).toBeNull();
      expect(session.problem).toBeNull();
    });

    it('sets the problem once retrying has ended', async () => {
      const { session, reader } = setup();
      await session.tryVirtualCard();
      reader.link?.emit(lost);
      const { reconnectAttempt: _attempt, ...withoutAttempt } = lost;
      reader.link?.emit({ ...withoutAttempt, link: 'failed' });
      expect(session.problem?.id).toBe('vm-unreachable');
      expect(session.pendingProblem).toBeNull();
    });

    it('takes N from the bridge policy', async () => {
      const { session, reader } = setup();
      const lend = reader.lend.bind(reader);
      reader.lend = (opts) => Object.assign(lend(opts), { reconnectPolicy: { maxAttempts: 3 } });
      await session.tryVirtualCard();
      reader.link?.emit(lost);
      expect(session.reconnect?.maxAttempts).toBe(3);
    });

    it("explains the relay's notice of a slow VM channel with the measured stall", async () => {
      const { session, reader } = setup();
      await session.tryVirtualCard();
      expect(session.channelNotice).toBeNull();
      const lent: LinkSnapshot = { link: 'lent', card: null, error: null };
      reader.link?.emit({
        ...lent,
        relayNotice: { code: 'nagle-suspected', typicalStallMs: 41.6 },
      });
      expect(session.channelNotice?.id).toBe('vm-channel-slow');
      expect(session.channelNotice?.cause).toContain('about 42 ms');
      expect(session.channelNotice?.reference).toBe('relay notice nagle-suspected');
      reader.link?.emit({ ...lent, relayNotice: { code: 'some-later-notice' } });
      expect(session.channelNotice).toBeNull();
    });

    it.each(['resuming', 'resumed', 'cannot-resume'] as const)(
      'reports resume %s from the bridge, null without it',
      async (resume) => {
        const { session, reader } = setup();
        await session.tryVirtualCard();
        expect(session.resume).toBeNull();
        reader.link?.emit({ ...lost, resume });
        expect(session.resume).toBe(resume);
      },
    );
  });

  describe('useKnownReader (issue 14 §10)', () => {
    const device = { vendorId: 0x1050, productId: 0x0407 } as USBDevice;

    it('opens the allowed reader without the chooser and lends it', async () => {
      const opened: USBDevice[] = [];
      let chooserCalls = 0;
      const { session, reader } = setup({
        chooseReader: async () => {
          chooserCalls++;
          throw new Error('no chooser expected');
        },
        openKnownReader: async (d) => {
          opened.push(d);
          return reader;
        },
      });
      await session.useKnownReader(device);
      expect(opened).toEqual([device]);
      expect(chooserCalls).toBe(0);
      expect(session.isLending).toBe(true);
      expect(reader.link?.startCalls).toBe(1);
    });

    it('explains a reader that cannot be opened, like a chosen one', async () => {
      const busy = Object.assign(new Error('busy'), { code: 'CCID_DEVICE_BUSY' });
      const { session } = setup({
        openKnownReader: async () => {
          throw busy;
        },
      });
      await session.useKnownReader(device);
      expect(session.isLending).toBe(false);
      expect(session.problem).not.toBeNull();
    });
  });
});
