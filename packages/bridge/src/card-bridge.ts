/**
 * CardBridge: lends the card in one reader slot to a VM, through a VSCard WebSocket relay
 * (issue 4, "The bridge").
 *
 * A thin shell: the lending logic is the pure LendingMachine (lending/machine.ts, which
 * drives the pure VscardClientSession of @cardlend/vscard); this class feeds it the events
 * of three adapters — the relay link (adapters/relay-link.ts, the WebSocket), the reader
 * slot (adapters/reader-slot.ts, any {@link BridgeReader}, reader.ts) and timers — with the
 * injected clock, and performs the actions it returns. See vscard-protocol.md §6 (client
 * state machine) and §7 (error handling) for the rules the machine follows.
 *
 * Failure answers: when a guest command arrives and the card is absent, or `transmit` fails,
 * the bridge answers status word `6F 00` (ISO 7816-4 §5.6 "no precise diagnosis") rather
 * than a VSC_Error: the guest application then sees an ordinary failed command instead of a
 * reader-level transport failure, and is never left waiting (rule 4 of §6). The card removal
 * itself is reported separately with CardRemove.
 */
import { relaySubprotocols, VSCARD_MAX_GUEST_ANSWER_BYTES } from '@cardlend/vscard';
import type { ApduLogEntry } from './apdu-log.ts';
import { ReaderSlot } from './adapters/reader-slot.ts';
import { RelayLink } from './adapters/relay-link.ts';
import { resolveReconnectPolicy } from './backoff.ts';
import type { ReconnectPolicy } from './backoff.ts';
import { DEFAULT_MAX_ANSWER_BYTES } from './long-answer.ts';
import { LendingMachine } from './lending/machine.ts';
import { ListenerList } from './listener-list.ts';
import type {
  BridgeLogEvent,
  BridgeState,
  LendingAction,
  ReaderResult,
  TimerName,
} from './lending/types.ts';
import { defaultCreateWebSocket, defaultTimers, relayWebSocketUrl } from './platform.ts';
import type { BridgeTimers, CreateWebSocket } from './platform.ts';
import type { BridgeReader } from './reader.ts';

export type { BridgeReader, BridgeReaderEvent } from './reader.ts';
export type { BridgeCardState, BridgeLogEvent, BridgeState, LinkState } from './lending/types.ts';

/** Options of {@link CardBridge}. */
export interface BridgeOptions {
  /** The opened reader (e.g. `openReader(...)` of @cardlend/ccid/webusb). The bridge never closes it. */
  reader: BridgeReader;
  /** Slot to lend, default 0. */
  slot?: number;
  /** Relay address: `ws(s)://host[:port][/base]` or `http(s)://…`; `/vscard` is appended when missing. */
  relayUrl: string;
  /** Session token (the relay's `v1.<payload>.<signature>`, base64url parts), sent as the subprotocol `cardlend.token.<token>`; empty = none. */
  token?: string;
  /** WebSocket factory; default the global `WebSocket` (tests pass `ws`). */
  createWebSocket?: CreateWebSocket;
  /**
   * Announce a T=0-compatible ATR so QEMU 7.2 guests can use T=1-only cards
   * (vscard-protocol.md §4, vector g11). `auto` (default): only when the card offers T=1
   * only; `always`: every card; `never`: the card's own ATR.
   */
  t0Compat?: 'auto' | 'always' | 'never';
  /** Reconnect policy after a dropped connection; defaults in DEFAULT_RECONNECT_POLICY. */
  reconnect?: Partial<ReconnectPolicy>;
  /** Clock in milliseconds, default `Date.now`. */
  now?: () => number;
  /** Timers, default the global ones (tests may pass controllable ones). */
  timers?: BridgeTimers;
  /** Random source in [0, 1) for the backoff jitter, default `Math.random`. */
  random?: () => number;
  /** How long the session waits for each VM acknowledgement, ms (session default 2000). */
  ackTimeoutMs?: number;
  /** Upper bound for stop(): acks plus the WebSocket close, ms; default 3000. */
  stopTimeoutMs?: number;
  /** Largest APDU answer sent to the VM unsplit, bytes; default and maximum 374 (QEMU 7.2). */
  maxAnswerBytes?: number;
  /**
   * Offer the relay to split long answers next to QEMU (subprotocol
   * `cardlend.vscard.v1.long-answers`, issue 11 §3); default true. If the relay selects it,
   * answers go out whole (up to 65 524 bytes) and no GET RESPONSE crosses the WAN; an older
   * relay selects `cardlend.vscard.v1` and the bridge splits with 61xx itself.
   */
  isOfferingLongAnswers?: boolean;
  /** Reader name in ReaderAdd; default the reader's product name. */
  readerName?: string;
  /** Power the card off when stop() ends, so the guest's PIN verification does not outlive the lending; default true. */
  isPowerOffOnStop?: boolean;
  /**
   * Resume the lending session after a dropped connection with the relay's resume ticket
   * instead of the (single-use) token (issue 14 §1, `state.resume`); default true. A relay
   * that does not offer resuming is unaffected.
   */
  resume?: boolean;
  /** Diagnostics (never PIN data). */
  onLog?: (entry: BridgeLogEvent) => void;
}

/** A subprotocol must be an RFC 7230 §3.2.6 token (relay tokens look like `v1.<b64url>.<b64url>`). */
const TOKEN_CHARS = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]*$/;

/** Lends one reader slot's card to a VM over a VSCard relay (see the module comment). */
export class CardBridge {
  readonly #machine: LendingMachine;
  readonly #policy: Readonly<ReconnectPolicy>;
  readonly #slot: ReaderSlot;
  readonly #link: RelayLink | null;
  readonly #now: () => number;
  readonly #timers: BridgeTimers;
  readonly #onLog: ((e: BridgeLogEvent) => void) | undefined;
  readonly #armed = new Map<TimerName, unknown>();
  readonly #stateListeners = new ListenerList<BridgeState>();
  readonly #apduListeners = new ListenerList<ApduLogEntry>();
  /** Inputs waiting while actions of an earlier one are performed (listeners may call back). */
  readonly #inbox: ((m: LendingMachine, nowMs: number) => LendingAction[])[] = [];
  #isDispatching = false;
  /** Where the reader slot reports each call's result (one function for all calls). */
  readonly #readerDone = (id: number, result: ReaderResult): void =>
    this.#input((m, now) => m.readerDone(id, result, now));
  #started: { resolve: () => void; reject: (e: unknown) => void } | null = null;
  readonly #ended: Promise<void>;
  #resolveEnded: () => void = () => undefined;

  constructor(opts: BridgeOptions) {
    const url = relayWebSocketUrl(opts.relayUrl);
    if (opts.token !== undefined && !TOKEN_CHARS.test(opts.token)) {
      throw new TypeError(
        'token must consist of URL-safe token characters (letters, digits, "-", "_", ".")',
      );
    }
    const maxAnswerBytes = opts.maxAnswerBytes ?? DEFAULT_MAX_ANSWER_BYTES;
    if (maxAnswerBytes > VSCARD_MAX_GUEST_ANSWER_BYTES) {
      throw new RangeError(
        `maxAnswerBytes must be ≤ ${VSCARD_MAX_GUEST_ANSWER_BYTES} (QEMU 7.2 drops longer answers)`,
      );
    }
    const slot = opts.slot ?? 0;
    this.#machine = new LendingMachine({
      slot,
      readerName: opts.readerName ?? opts.reader.info?.productName ?? 'cardlend reader',
      ackTimeoutMs: opts.ackTimeoutMs,
      stopTimeoutMs: opts.stopTimeoutMs ?? 3000,
      t0Compat: opts.t0Compat ?? 'auto',
      reconnect: (this.#policy = Object.freeze(resolveReconnectPolicy(opts.reconnect))),
      random: opts.random ?? Math.random,
      maxAnswerBytes,
      isPowerOffOnStop: opts.isPowerOffOnStop ?? true,
      isResumable: opts.resume ?? true,
    });
    this.#now = opts.now ?? (() => Date.now());
    this.#timers = opts.timers ?? defaultTimers();
    this.#onLog = opts.onLog;
    this.#slot = new ReaderSlot(opts.reader, slot);
    const create = opts.createWebSocket ?? defaultCreateWebSocket();
    const longAnswers = opts.isOfferingLongAnswers ?? true;
    const resumable = opts.resume ?? true;
    const protocols = (ticket?: string): string[] =>
      relaySubprotocols(opts.token, {
        longAnswers,
        resumable,
        ...(ticket === undefined ? {} : { ticket }),
      });
    this.#link =
      create === null
        ? null
        : new RelayLink(url, protocols, create, {
            opened: (s, protocol) => this.#input((m, now) => m.socketOpened(s, protocol, now)),
            message: (s, bytes) => this.#input((m, now) => m.socketMessage(s, bytes, now)),
            closed: (s, code, reason) =>
              this.#input((m, now) => m.socketClosed(s, code, reason, now)),
            log: (level, message, data) => this.#log({ level, message, ...(data && { data }) }),
          });
    this.#ended = new Promise((resolve) => {
      this.#resolveEnded = resolve;
    });
  }

  /** The reconnect policy in force (defaults filled in): `maxAttempts` is the "of N" of a retry. */
  get reconnectPolicy(): Readonly<ReconnectPolicy> {
    return this.#policy;
  }

  /** Current state (a snapshot; a new object after every change). */
  get state(): BridgeState {
    return this.#machine.state;
  }

  /** Subscribes to state changes; returns the unsubscribe function. */
  onState(listener: (s: BridgeState) => void): () => void {
    return this.#stateListeners.add(listener);
  }

  /** Subscribes to the APDU log (one entry per answered guest command); returns the unsubscribe function. */
  onApdu(listener: (e: ApduLogEntry) => void): () => void {
    return this.#apduListeners.add(listener);
  }

  /**
   * Starts lending: watches the reader, powers the card on if present, connects to the
   * relay. Resolves once the VM has acknowledged the reader (link `lent`); rejects with a
   * BridgeError if the bridge ends first (refused, failed, stopped). Retries in between do
   * not settle it. Call once.
   */
  start(): Promise<void> {
    if (this.#machine.phase.name !== 'idle' || this.#started !== null) {
      return Promise.reject(new TypeError('CardBridge.start() may be called once'));
    }
    const started = new Promise<void>((resolve, reject) => {
      this.#started = { resolve, reject };
    });
    // The caller may only watch onState; never let the start promise be an unhandled rejection.
    started.catch(() => undefined);
    this.#slot.subscribe((e) => this.#input((m, now) => m.readerEvent(e, now)));
    this.#input((m, now) => m.start(now, this.#link !== null));
    return started;
  }

  /**
   * Stops lending: CardRemove and ReaderRemove, waits for the VM's acks (bounded by
   * `stopTimeoutMs`), closes the WebSocket with 1000, powers the card off. Link `stopped`.
   * Safe to call at any time and more than once.
   */
  stop(): Promise<void> {
    this.#input((m, now) => m.stop(now));
    return this.#ended;
  }

  /** Feeds one input to the machine and performs its actions; inputs arriving meanwhile wait their turn. */
  #input(call: (m: LendingMachine, nowMs: number) => LendingAction[]): void {
    this.#inbox.push(call);
    if (this.#isDispatching) return;
    this.#isDispatching = true;
    try {
      // The clock is read when an input's turn comes, not when it arrived.
      for (let next = this.#inbox.shift(); next !== undefined; next = this.#inbox.shift()) {
        const actions = next(this.#machine, this.#now());
        // By index: an array iterator per input is garbage the next guest command may wait behind.
        for (let i = 0; i < actions.length; i++) this.#perform(actions[i]!);
      }
    } finally {
      this.#isDispatching = false;
    }
  }

  #perform(action: LendingAction): void {
    switch (action.type) {
      case 'open-socket':
        this.#link?.open(action.socket, action.ticket);
        return;
      case 'send':
        this.#link?.send(action.socket, action.bytes);
        return;
      case 'close-socket':
        this.#link?.close(action.socket, action.code, action.reason);
        return;
      case 'reader':
        this.#slot.run(action.request, this.#readerDone);
        return;
      case 'arm-timer':
        this.#arm(action.timer, action.atMs);
        return;
      case 'cancel-timer':
        this.#cancel(action.timer);
        return;
      case 'state':
        this.#notify(this.#stateListeners, action.state, 'state');
        return;
      case 'apdu-log':
        this.#notify(this.#apduListeners, action.entry, 'APDU');
        return;
      case 'log':
        this.#log(action.event);
        return;
      case 'started':
        this.#started?.resolve();
        return;
      case 'start-failed':
        this.#started?.reject(action.error);
        return;
      case 'ended':
        for (const timer of [...this.#armed.keys()]) this.#cancel(timer);
        this.#slot.unsubscribe();
        this.#resolveEnded();
        return;
    }
  }

  #arm(timer: TimerName, atMs: number): void {
    this.#cancel(timer);
    const delayMs = Math.max(0, atMs - this.#now());
    const handle = this.#timers.setTimeout(() => {
      if (this.#armed.get(timer) !== handle) return;
      this.#armed.delete(timer);
      // A timer may fire a little before the clock reaches `atMs` (Node measures timeouts from
      // its cached loop time): it stands for `atMs`, or the session would find nothing due.
      this.#input((m, now) => m.timerFired(timer, Math.max(now, atMs)));
    }, delayMs);
    this.#armed.set(timer, handle);
  }

  #cancel(timer: TimerName): void {
    if (!this.#armed.has(timer)) return;
    this.#timers.clearTimeout(this.#armed.get(timer));
    this.#armed.delete(timer);
  }

  #notify<T>(listeners: ListenerList<T>, value: T, what: string): void {
    const current = listeners.current;
    for (let i = 0; i < current.length; i++) {
      try {
        current[i]!(value);
      } catch (e) {
        this.#log({ level: 'warn', message: `${what} listener threw`, data: { error: String(e) } });
      }
    }
  }

  #log(entry: BridgeLogEvent): void {
    if (this.#onLog === undefined) return;
    try {
      this.#onLog(entry);
    } catch {
      // a throwing log sink must not break lending
    }
  }
}
