/** Fakes of the page's ports for the LendingSession tests (no I/O, no timers). */
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

export const ATR_T1 = Uint8Array.of(
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
export const ATR_T0 = Uint8Array.of(0x3b, 0x08, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08);

export class FakeLink implements LendingLink {
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

export class FakeReader implements OpenedReader {
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

export function setup(over: Partial<Platform> = {}, url = 'http://127.0.0.1:8080/?token=tok') {
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
