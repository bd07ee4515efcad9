/**
 * The page's one piece of application state: which reader is open, whether it is lent to
 * the VM, what went wrong and how to fix it. All I/O comes in through a {@link Platform}.
 */
import {
  classifyError,
  explainFailure,
  type Explanation,
  type Failure,
} from '../errors/explain.ts';
import { DEFAULT_RECONNECT_POLICY } from '@cardlend/bridge';
import { ApduLog } from './apdu-log.svelte.ts';
import { normalizeRelayUrl, normalizeToken, type LaunchParams } from './launch-params.ts';
import {
  cardRetryOf,
  cardView,
  channelNoticeFailure,
  failureForSnapshot,
  reconnectView,
  type CardRetryView,
  type CardView,
  type ReconnectView,
  type ResumeView,
} from './link-view.ts';
import type {
  LendingLink,
  LinkSnapshot,
  OpenedReader,
  Platform,
  ReaderSummary,
  VirtualCardControls,
} from './ports.ts';

export type { CardView, ReconnectView, ResumeView } from './link-view.ts';

/** The bridge powering the card on again by itself: the count, and why the last try failed. */
export type CardRetry = CardRetryView & { why: Explanation };

/** What the page is doing right now (independent of the VM link). */
export type Activity = 'idle' | 'choosing' | 'opening' | 'lending' | 'stopping';

const IDLE_SNAPSHOT: LinkSnapshot = { link: 'idle', card: null, error: null };

export class LendingSession {
  readonly #platform: Platform;
  readonly #pageUrl: string;
  readonly #now: () => number;

  /** Relay address as typed in the form. */
  relayInput = $state('');
  /** Token as typed in the form. */
  tokenInput = $state('');
  readonly demoProfile: string;

  #activity = $state<Activity>('idle');
  #reader = $state<ReaderSummary | null>(null);
  #snapshot = $state<LinkSnapshot>(IDLE_SNAPSHOT);
  #problem = $state<Explanation | null>(null);
  #pendingProblem = $state<Explanation | null>(null);
  #isProblemFromLink = false;
  #maxReconnectAttempts = DEFAULT_RECONNECT_POLICY.maxAttempts;
  #virtualCard = $state<VirtualCardControls | null>(null);
  #isVirtualCardIn = $state(false);

  #openReader: OpenedReader | null = null;
  /** The current link has been lent at least once (a later `connecting` is a retry). */
  #wasLent = false;
  #link: LendingLink | null = null;
  #unsubscribe: (() => void)[] = [];

  readonly log = new ApduLog();

  constructor(opts: {
    platform: Platform;
    launch: LaunchParams;
    pageUrl: string;
    now?: () => number;
  }) {
    this.#platform = opts.platform;
    this.#pageUrl = opts.pageUrl;
    this.#now = opts.now ?? (() => Date.now());
    this.relayInput = opts.launch.relayUrl;
    this.tokenInput = opts.launch.token;
    this.demoProfile = opts.launch.demo;
    if (opts.launch.relayProblem !== null) {
      this.#setProblem(
        this.#explain({ kind: 'relay-url-invalid', reason: opts.launch.relayProblem }),
      );
    }
  }

  get activity(): Activity {
    return this.#activity;
  }
  get reader(): ReaderSummary | null {
    return this.#reader;
  }
  get link(): LinkSnapshot {
    return this.#snapshot;
  }
  get problem(): Explanation | null {
    return this.#problem;
  }
  /**
   * The link's last error while the bridge still retries by itself (reconnecting, or connecting
   * again after having been lent): held back from {@link problem} until retrying has ended.
   */
  get pendingProblem(): Explanation | null {
    return this.#pendingProblem;
  }
  /** The bridge's retries while the link is `reconnecting`, else null. */
  get reconnect(): ReconnectView | null {
    return reconnectView(this.#snapshot, this.#maxReconnectAttempts);
  }
  /**
   * The bridge powering the card on again after a failure that may heal (another program held
   * it, …), else null. Its failure is held back as {@link pendingProblem} meanwhile.
   */
  get cardRetry(): CardRetry | null {
    const retry = cardRetryOf(this.#snapshot);
    return retry === null ? null : { ...retry.view, why: this.#explain(retry.failure) };
  }
  /** Resuming the same lending session after a drop: what the bridge reports, else null. */
  get resume(): ResumeView {
    return this.#snapshot.resume ?? null;
  }
  get hasWebUsb(): boolean {
    return this.#platform.hasWebUsb;
  }
  /** Set in demo mode: pull/insert the virtual card. */
  get virtualCard(): { isInserted: boolean } | null {
    return this.#virtualCard === null ? null : { isInserted: this.#isVirtualCardIn };
  }
  /** True while a reader is open and lent (Stop lending is offered). */
  get isLending(): boolean {
    return this.#activity === 'lending' || this.#activity === 'stopping';
  }
  /** True while the page waits for the chooser or the reader. */
  get isBusy(): boolean {
    return (
      this.#activity === 'choosing' || this.#activity === 'opening' || this.#activity === 'stopping'
    );
  }

  /** What the relay noticed about the VM's smart-card channel (issue 11 §4), else null. */
  get channelNotice(): Explanation | null {
    const failure = channelNoticeFailure(this.#snapshot);
    return failure === null ? null : this.#explain(failure);
  }

  get card(): CardView | null {
    return cardView(this.#snapshot);
  }

  #explain(f: Failure): Explanation {
    return explainFailure(f, this.#platform.os);
  }

  dismissProblem(): void {
    this.#problem = null;
    this.#pendingProblem = null;
    this.#isProblemFromLink = false;
  }

  #setProblem(problem: Explanation): void {
    this.#problem = problem;
    this.#isProblemFromLink = false;
  }

  /** Validate the form; sets the problem and returns null when invalid. */
  #target(): { relayUrl: string; token: string } | null {
    const relay = normalizeRelayUrl(this.relayInput, this.#pageUrl);
    if (!relay.ok) {
      this.#setProblem(this.#explain({ kind: 'relay-url-invalid', reason: relay.reason }));
      return null;
    }
    const token = normalizeToken(this.tokenInput);
    if (!token.ok) {
      this.#setProblem(this.#explain({ kind: 'token-invalid', reason: token.reason }));
      return null;
    }
    return { relayUrl: relay.url, token: token.token };
  }

  /** "Choose reader": Chrome's chooser, then open the reader and lend it. */
  async chooseReader(): Promise<void> {
    await this.#openAndLend((onDevice) => this.#platform.chooseReader(onDevice));
  }

  /**
   * "Use <reader> again" (issue 14 §10): a reader this page was allowed before, opened without
   * the chooser, then lent exactly like a chosen one. Without platform support: the chooser.
   */
  async useKnownReader(device: USBDevice): Promise<void> {
    const openKnown = this.#platform.openKnownReader?.bind(this.#platform);
    await this.#openAndLend((onDevice) => {
      if (openKnown === undefined) return this.#platform.chooseReader(onDevice);
      onDevice({ vendorId: device.vendorId, productId: device.productId });
      return openKnown(device);
    });
  }

  async #openAndLend(
    open: (onDevice: (d: { vendorId: number; productId: number }) => void) => Promise<OpenedReader>,
  ): Promise<void> {
    if (this.isLending || this.isBusy) return;
    this.#problem = null;
    if (!this.#platform.hasWebUsb) {
      this.#setProblem(
        this.#explain({ kind: 'no-webusb', isSecureContext: this.#platform.isSecureContext }),
      );
      return;
    }
    const target = this.#target();
    if (target === null) return;
    this.#activity = 'choosing';
    let device: { vendorId: number; productId: number } | undefined;
    let reader: OpenedReader;
    try {
      reader = await open((d) => {
        device = d;
        this.#activity = 'opening';
      });
    } catch (e) {
      this.#activity = 'idle';
      this.#setProblem(this.#explain(classifyError(e, device)));
      return;
    }
    await this.#lend(reader, null, target);
  }

  /**
   * Lends a reader opened by another route than WebUSB (the local helper, issue 13): same
   * lending, log and Stop; `open` rejects with a reader error the page explains.
   */
  async lendOpened(open: () => Promise<OpenedReader>): Promise<void> {
    if (this.isLending || this.isBusy) return;
    this.#problem = null;
    const target = this.#target();
    if (target === null) return;
    this.#activity = 'opening';
    let reader: OpenedReader;
    try {
      reader = await open();
    } catch (e) {
      this.#activity = 'idle';
      this.#setProblem(this.#explain(classifyError(e)));
      return;
    }
    await this.#lend(reader, null, target);
  }

  /** "Try a virtual card": the simulated reader and demo card, through the same driver. */
  async tryVirtualCard(): Promise<void> {
    if (this.isLending || this.isBusy) return;
    this.#problem = null;
    const target = this.#target();
    if (target === null) return;
    this.#activity = 'opening';
    let opened: { reader: OpenedReader; card: VirtualCardControls };
    try {
      opened = await this.#platform.openVirtualReader(this.demoProfile);
    } catch (e) {
      this.#activity = 'idle';
      this.#setProblem(this.#explain(classifyError(e)));
      return;
    }
    await this.#lend(opened.reader, opened.card, target);
  }

  async #lend(
    reader: OpenedReader,
    card: VirtualCardControls | null,
    target: { relayUrl: string; token: string },
  ): Promise<void> {
    this.#openReader = reader;
    this.#reader = reader.summary;
    this.#virtualCard = card;
    this.#isVirtualCardIn = card?.isInserted ?? false;
    this.log.clear();
    let link: LendingLink;
    try {
      link = reader.lend(target);
    } catch (e) {
      this.#setProblem(this.#explain(classifyError(e)));
      await this.#teardown();
      return;
    }
    this.#link = link;
    this.#activity = 'lending';
    this.#snapshot = link.state;
    this.#maxReconnectAttempts =
      link.reconnectPolicy?.maxAttempts ?? DEFAULT_RECONNECT_POLICY.maxAttempts;
    this.#wasLent = false;
    this.#unsubscribe.push(
      link.onState((s) => this.#onLinkState(s)),
      link.onApdu((e) => this.log.add(e, this.#now())),
      reader.onNotice((n) => {
        if (n.type === 'reader-gone')
          this.#setProblem(this.#explain({ kind: 'reader', code: 'CCID_READER_GONE' }));
      }),
    );
    try {
      await link.start();
    } catch (e) {
      // A start cut short by "Stop lending" (or an ended link) is not a new problem.
      if (this.#link === link && this.#problem === null)
        this.#setProblem(this.#explain(classifyError(e)));
    }
    if (this.#link === link) this.#onLinkState(link.state);
  }

  #onLinkState(s: LinkSnapshot): void {
    this.#snapshot = s;
    if (s.link === 'lent') this.#wasLent = true;
    const problem = this.#problemFor(s);
    // While the bridge retries by itself, its error is held back (issue 14 §4).
    const isRetrying = s.link === 'reconnecting' || (s.link === 'connecting' && this.#wasLent);
    // So is the failure of a power on the bridge tries again (no banner before the last try).
    const held = problem !== null && isRetrying ? problem : (this.cardRetry?.why ?? null);
    if (held !== null) {
      this.#pendingProblem = held;
      if (this.#isProblemFromLink) this.#problem = null;
      this.#isProblemFromLink = false;
    } else if (problem !== null) {
      this.#problem = problem;
      this.#pendingProblem = null;
      this.#isProblemFromLink = true;
    } else if (s.link === 'lent' || s.link === 'connecting') {
      // The bridge recovered (reconnected, or a new card was accepted).
      this.#pendingProblem = null;
      if (this.#isProblemFromLink) this.#problem = null;
      this.#isProblemFromLink = false;
    }
    if (
      (s.link === 'stopped' || s.link === 'failed' || (s.link === 'refused' && s.card === null)) &&
      this.#activity === 'lending'
    ) {
      void this.#teardown();
    }
  }

  #problemFor(s: LinkSnapshot): Explanation | null {
    const failure = failureForSnapshot(s, this.#activity === 'stopping');
    return failure === null ? null : this.#explain(failure);
  }

  /** Pull the virtual card out of the simulated reader (demo mode). */
  pullVirtualCard(): void {
    if (this.#virtualCard === null || !this.#isVirtualCardIn) return;
    this.#virtualCard.remove();
    this.#isVirtualCardIn = false;
  }

  /** Put the virtual card back in (demo mode). */
  insertVirtualCard(): void {
    if (this.#virtualCard === null || this.#isVirtualCardIn) return;
    this.#virtualCard.insert();
    this.#isVirtualCardIn = true;
  }

  /** "Stop lending": the bridge removes card and reader from the VM, then closes. */
  async stop(): Promise<void> {
    if (this.#activity !== 'lending') return;
    this.#activity = 'stopping';
    try {
      await this.#link?.stop();
    } catch {
      // The bridge reports failures through its state; the reader is released below anyway.
    }
    if (this.#link !== null) this.#snapshot = this.#link.state;
    await this.#teardown();
  }

  async #teardown(): Promise<void> {
    for (const off of this.#unsubscribe.splice(0)) off();
    const reader = this.#openReader;
    this.#openReader = null;
    this.#link = null;
    this.#virtualCard = null;
    this.#activity = 'idle';
    if (reader !== null) {
      try {
        await reader.close();
      } catch {
        // Closing an unplugged reader fails; nothing left to release.
      }
    }
  }
}
