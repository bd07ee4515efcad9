/**
 * What the page's state needs from the outside world. The real implementations live in
 * src/lib/adapters (WebUSB + @cardlend/ccid + @cardlend/bridge, or the simulator); tests pass
 * doubles. Shapes follow the agreed contracts (notes/contracts.md) structurally.
 */

import type { Failure } from '@cardlend/problems';

/** VM link as the bridge reports it. */
export type LinkState =
  'idle' | 'connecting' | 'lent' | 'refused' | 'reconnecting' | 'stopped' | 'failed';

/** A snapshot of the bridge (same fields as `BridgeState` in @cardlend/bridge). */
export interface LinkSnapshot {
  link: LinkState;
  card: {
    atr: Uint8Array;
    protocol: 0 | 1;
    presentedAtr: Uint8Array;
    /** Whether the VM acknowledged the ATR ('accepted') or refused it. */
    vmStatus?: 'not-sent' | 'pending' | 'accepted' | 'refused';
  } | null;
  /** `source`: the original failure with its own code (CCID, PC/SC, relay close, VSCard), when the bridge kept it. */
  error: { code: string; message: string; source?: Failure } | null;
  closeCode?: number;
  /** Reconnect attempt number (1-based) while `reconnecting`. */
  reconnectAttempt?: number;
  /** When the next attempt starts (the bridge's clock, `Date.now` ms) while `reconnecting`. */
  nextRetryAtMs?: number;
  /** Resuming the same lending session after a drop (issue 14 §1); absent when it does not apply. */
  resume?: 'resuming' | 'resumed' | 'cannot-resume';
  /** The relay's latest notice about the VM's channel (e.g. `nagle-suspected`), from the bridge. */
  relayNotice?: { code: string; typicalStallMs?: number };
  /**
   * A power on of the card failed in a way that may heal and the bridge tries again by itself
   * (`BridgeState.powerOnRetry`): the retry pending or running, of `maxAttempts`, when it starts
   * (the bridge's clock) and the last failure, held here instead of in `error`. Absent otherwise.
   */
  powerOnRetry?: {
    attempt: number;
    maxAttempts: number;
    nextAtMs: number;
    error: NonNullable<LinkSnapshot['error']>;
  };
}

/** One guest command and its answer (same fields as `ApduLogEntry` in @cardlend/bridge). */
export interface ApduRecord {
  id: number;
  atMs: number;
  command: Uint8Array | null;
  name: string;
  lc: number;
  le: number | null;
  response: Uint8Array | null;
  sw: number | null;
  swText: string;
  latencyMs: number;
  isRedacted: boolean;
  /** Who answered: the card, the bridge's GET RESPONSE buffer, or the bridge in the card's place. */
  answeredBy?: 'card' | 'bridge-buffer' | 'bridge-error';
}

/** A running lending session (a `CardBridge`). */
export interface LendingLink {
  start(): Promise<void>;
  stop(): Promise<void>;
  readonly state: LinkSnapshot;
  onState(listener: (s: LinkSnapshot) => void): () => void;
  onApdu(listener: (e: ApduRecord) => void): () => void;
  /** The bridge's reconnect policy (`CardBridge.reconnectPolicy`); absent: the bridge's default. */
  readonly reconnectPolicy?: { readonly maxAttempts: number };
}

/** What the page shows about an opened reader. */
export interface ReaderSummary {
  name: string;
  /** CCID exchange level: 'character' | 'tpdu' | 'short-apdu' | 'extended-apdu'. */
  exchangeLevel: string;
  interfaceClass: number;
  vendorId: number;
  productId: number;
  isVirtual: boolean;
  /** How the page reaches the reader: WebUSB (default) or the local cardlend helper (PC/SC). */
  route?: 'webusb' | 'helper';
}

/** Reader events the page cares about beyond the bridge's own handling. */
export type ReaderNotice =
  { type: 'card-inserted' } | { type: 'card-removed' } | { type: 'reader-gone' };

/** An opened reader, ready to be lent. */
export interface OpenedReader {
  readonly summary: ReaderSummary;
  /** Start lending it to the relay; the link owns the reader from then on. */
  lend(opts: { relayUrl: string; token: string }): LendingLink;
  onNotice(listener: (n: ReaderNotice) => void): () => void;
  close(): Promise<void>;
}

/** Controls for the virtual card in demo mode. */
export interface VirtualCardControls {
  insert(): void;
  remove(): void;
  readonly isInserted: boolean;
}

/** Everything platform-bound the page uses. */
export interface Platform {
  /** `navigator.usb` exists. */
  readonly hasWebUsb: boolean;
  readonly isSecureContext: boolean;
  /** Operating system guess, to order fixes. */
  readonly os: 'linux' | 'windows' | 'macos' | 'chromeos' | 'other';
  /**
   * Open Chrome's chooser filtered to CCID readers and open the chosen reader. Rejects with
   * the browser's or driver's error (classified by the caller); `device` is set once known.
   */
  chooseReader(
    onDevice?: (device: { vendorId: number; productId: number }) => void,
  ): Promise<OpenedReader>;
  /**
   * Open a reader this page was allowed to use before (`navigator.usb.getDevices()`), without
   * the chooser; same errors as {@link chooseReader}. Absent: the page cannot (tests, old builds).
   */
  openKnownReader?(device: USBDevice): Promise<OpenedReader>;
  /** Open a simulated reader with the demo card in it, through the same driver code. */
  openVirtualReader(profile: string): Promise<{ reader: OpenedReader; card: VirtualCardControls }>;
}
