/**
 * CardBridge: lends the card in one CCID reader slot to a VM, through a VSCard WebSocket
 * relay (issue 4, "The bridge").
 *
 * The VSCard protocol logic lives in the pure VscardClientSession (@cardlend/vscard); this
 * adapter owns the I/O around it: the WebSocket, the timers the session arms, the reader,
 * and the APDU queue between them. See vscard-protocol.md §6 (client state machine) and §7
 * (error handling) for the rules this follows.
 *
 * Failure answers: when a guest command arrives and the card is absent, or `transmit` fails,
 * the bridge answers status word `6F 00` (ISO 7816-4 §5.6 "no precise diagnosis") rather
 * than a VSC_Error: the guest application then sees an ordinary failed command instead of a
 * reader-level transport failure, and is never left waiting (rule 4 of §6). The card removal
 * itself is reported separately with CardRemove.
 */
import {
  decodeMessage,
  parseAtr,
  qemu72AcceptsAtr,
  RELAY_SUBPROTOCOL,
  RELAY_TOKEN_SUBPROTOCOL_PREFIX,
  toQemuT0CompatibleAtr,
  validateClientFrame,
  VSCARD_MAX_GUEST_ANSWER_BYTES,
  VSCARD_MAX_GUEST_COMMAND_BYTES,
  VscardClientSession,
} from '@cardlend/vscard';
import type { SessionAction, SessionEvent } from '@cardlend/vscard';
import { createLogEntry } from './apdu-log.ts';
import type { ApduAnswerSource, ApduLogEntry } from './apdu-log.ts';
import { describeApdu } from './apdu-describe.ts';
import { backoffDelayMs, resolveReconnectPolicy } from './backoff.ts';
import type { ReconnectPolicy } from './backoff.ts';
import {
  BRIDGE_ERRORS,
  BridgeError,
  bridgeErrorFromReader,
  classifyClose,
  isReaderLost,
} from './errors.ts';
import type { BridgeErrorCode } from './errors.ts';
import { DEFAULT_MAX_ANSWER_BYTES, LongAnswerSplitter } from './long-answer.ts';
import {
  defaultCreateWebSocket,
  defaultTimers,
  messageBytes,
  relayWebSocketUrl,
  WS_CONNECTING,
  WS_OPEN,
} from './platform.ts';
import type { BridgeTimers, BridgeWebSocket, CreateWebSocket } from './platform.ts';
import type { BridgeReader, BridgeReaderEvent } from './reader.ts';

export type { BridgeReader, BridgeReaderEvent } from './reader.ts';

/** Options of {@link CardBridge}. */
export interface BridgeOptions {
  /** The opened reader (`openReader(...)` of @cardlend/ccid/webusb). The bridge never closes it. */
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
  /** Reader name in ReaderAdd; default the reader's product name. */
  readerName?: string;
  /** Power the card off when stop() ends, so the guest's PIN verification does not outlive the lending; default true. */
  isPowerOffOnStop?: boolean;
  /** Diagnostics (never PIN data). */
  onLog?: (entry: BridgeLogEvent) => void;
}

/** A diagnostic line. */
export interface BridgeLogEvent {
  level: 'debug' | 'info' | 'warn';
  message: string;
  data?: Record<string, unknown>;
}

/**
 * State of the VM link: `idle` before start; `connecting` (first attempt); `lent` (reader
 * announced; the card too if `card` is set and no error); `refused` (the relay or the VM
 * said no: token, VM in use, or the card's ATR — see `error`); `reconnecting` (waiting to
 * retry after a drop); `stopped` (ended: stop(), reader unplugged, relay ended the
 * session); `failed` (ended by an error that retrying cannot fix).
 */
export type LinkState =
  'idle' | 'connecting' | 'lent' | 'refused' | 'reconnecting' | 'stopped' | 'failed';

/** The card as lent. */
export interface BridgeCardState {
  /** The card's own ATR. */
  atr: Uint8Array;
  /** Protocol the reader runs with the card. */
  protocol: 0 | 1;
  /** The ATR announced to the VM (differs when the T=0 compatibility form is used). */
  presentedAtr: Uint8Array;
  /** True when `presentedAtr` is the T=0-compatible rewrite. */
  isT0Compat: boolean;
  /** Why QEMU 7.2 is expected to refuse `presentedAtr` (qemu72AcceptsAtr), or `null`. */
  predictedRefusal: string | null;
  /** `pending`: ATR sent, no ack yet; `accepted`/`refused` by the VM; `not-sent`: no VM link yet. */
  vmStatus: 'not-sent' | 'pending' | 'accepted' | 'refused';
}

/** Everything the UI shows about the bridge. A new object on every change. */
export interface BridgeState {
  link: LinkState;
  card: BridgeCardState | null;
  error: { code: BridgeErrorCode; message: string } | null;
  /** The relay's close code of the last connection, when it closed. */
  closeCode?: number;
  /** Reconnect attempt number (1-based) while `reconnecting`. */
  reconnectAttempt?: number;
  /** When the next attempt starts (bridge clock, ms) while `reconnecting`. */
  nextRetryAtMs?: number;
}

interface QueuedApdu {
  session: VscardClientSession;
  id: number;
  apdu: Uint8Array;
  atMs: number;
}

/** A state change: omitted fields stay; optional fields set to `undefined` are removed. */
interface StatePatch {
  link?: LinkState;
  card?: BridgeCardState | null;
  error?: BridgeState['error'];
  closeCode?: number | undefined;
  reconnectAttempt?: number | undefined;
  nextRetryAtMs?: number | undefined;
}

type Status = 'idle' | 'running' | 'stopping' | 'done';

/**
 * Most guest commands waiting for the card. QEMU keeps at most 128 outstanding (its 129th
 * aborts the VM, vscard-protocol.md §4), so a peer sending more is not a QEMU.
 */
const MAX_QUEUED_GUEST_COMMANDS = 256;

/** A connection lent for this long (ms) counts as stable: the next drop starts the backoff afresh. */
const STABLE_CONNECTION_MS = 10_000;

/** 6F00, ISO 7816-4 §5.6 "no precise diagnosis": the answer when the card cannot answer. */
const SW_NO_PRECISE_DIAGNOSIS = Uint8Array.of(0x6f, 0x00);

/** Lends one reader slot's card to a VM over a VSCard relay (see the module comment). */
export class CardBridge {
  readonly #reader: BridgeReader;
  readonly #slot: number;
  readonly #url: string;
  readonly #protocols: string[];
  readonly #createWebSocket: CreateWebSocket | null;
  readonly #t0Compat: 'auto' | 'always' | 'never';
  readonly #policy: ReconnectPolicy;
  readonly #now: () => number;
  readonly #timers: BridgeTimers;
  readonly #random: () => number;
  readonly #ackTimeoutMs: number | undefined;
  readonly #stopTimeoutMs: number;
  readonly #readerName: string;
  readonly #isPowerOffOnStop: boolean;
  readonly #onLog: ((e: BridgeLogEvent) => void) | undefined;
  readonly #splitter: LongAnswerSplitter;

  #status: Status = 'idle';
  #state: BridgeState = { link: 'idle', card: null, error: null };
  readonly #stateListeners = new Set<(s: BridgeState) => void>();
  readonly #apduListeners = new Set<(e: ApduLogEntry) => void>();

  #ws: BridgeWebSocket | null = null;
  #wsWasOpen = false;
  #session: VscardClientSession | null = null;
  #sessionTimer: unknown = null;
  #isReaderAnnounced = false;
  #isCardAnnounced = false;
  /** The VM has been told there is no card on this connection (CardRemove sent). */
  #isVmCardCleared = false;
  /** Reader calls in progress that may find a card (slot status, power on). */
  #probing = 0;
  /** Set when the bridge closes the socket itself for an error (no reconnect). */
  #ownCloseError: BridgeError | null = null;

  #attempt = 0;
  /** When the current connection's reader was acknowledged (bridge clock), or null. */
  #lentAtMs: number | null = null;
  #reconnectTimer: unknown = null;
  #unsubscribeReader: (() => void) | null = null;
  #isReaderGone = false;
  #cardGeneration = 0;
  #readerChain: Promise<void> = Promise.resolve();
  readonly #queue: QueuedApdu[] = [];
  #isPumping = false;
  #logId = 0;

  #startWaiters: { resolve: () => void; reject: (e: unknown) => void } | null = null;
  #stopPromise: Promise<void> | null = null;
  #stopTimer: unknown = null;
  #finishStop: (() => void) | null = null;

  constructor(opts: BridgeOptions) {
    this.#reader = opts.reader;
    this.#slot = opts.slot ?? 0;
    this.#url = relayWebSocketUrl(opts.relayUrl);
    // A subprotocol must be an RFC 7230 §3.2.6 token (relay tokens look like `v1.<b64url>.<b64url>`).
    if (opts.token !== undefined && !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]*$/.test(opts.token)) {
      throw new TypeError(
        'token must consist of URL-safe token characters (letters, digits, "-", "_", ".")',
      );
    }
    this.#protocols = [RELAY_SUBPROTOCOL];
    if (opts.token !== undefined && opts.token !== '')
      this.#protocols.push(RELAY_TOKEN_SUBPROTOCOL_PREFIX + opts.token);
    this.#createWebSocket = opts.createWebSocket ?? defaultCreateWebSocket();
    this.#t0Compat = opts.t0Compat ?? 'auto';
    this.#policy = resolveReconnectPolicy(opts.reconnect);
    this.#now = opts.now ?? (() => Date.now());
    this.#timers = opts.timers ?? defaultTimers();
    this.#random = opts.random ?? Math.random;
    this.#ackTimeoutMs = opts.ackTimeoutMs;
    this.#stopTimeoutMs = opts.stopTimeoutMs ?? 3000;
    this.#readerName = opts.readerName ?? opts.reader.info?.productName ?? 'cardlend reader';
    this.#isPowerOffOnStop = opts.isPowerOffOnStop ?? true;
    this.#onLog = opts.onLog;
    const maxAnswerBytes = opts.maxAnswerBytes ?? DEFAULT_MAX_ANSWER_BYTES;
    if (maxAnswerBytes > VSCARD_MAX_GUEST_ANSWER_BYTES) {
      throw new RangeError(
        `maxAnswerBytes must be ≤ ${VSCARD_MAX_GUEST_ANSWER_BYTES} (QEMU 7.2 drops longer answers)`,
      );
    }
    this.#splitter = new LongAnswerSplitter({ maxAnswerBytes });
  }

  /** Current state (a snapshot; a new object after every change). */
  get state(): BridgeState {
    return this.#state;
  }

  /** Subscribes to state changes; returns the unsubscribe function. */
  onState(listener: (s: BridgeState) => void): () => void {
    this.#stateListeners.add(listener);
    return () => this.#stateListeners.delete(listener);
  }

  /** Subscribes to the APDU log (one entry per answered guest command); returns the unsubscribe function. */
  onApdu(listener: (e: ApduLogEntry) => void): () => void {
    this.#apduListeners.add(listener);
    return () => this.#apduListeners.delete(listener);
  }

  /**
   * Starts lending: watches the reader, powers the card on if present, connects to the
   * relay. Resolves once the VM has acknowledged the reader (link `lent`); rejects with a
   * BridgeError if the bridge ends first (refused, failed, stopped). Retries in between do
   * not settle it. Call once.
   */
  start(): Promise<void> {
    if (this.#status !== 'idle')
      return Promise.reject(new TypeError('CardBridge.start() may be called once'));
    this.#status = 'running';
    const started = new Promise<void>((resolve, reject) => {
      this.#startWaiters = { resolve, reject };
    });
    // The caller may only watch onState; never let the start promise be an unhandled rejection.
    started.catch(() => undefined);
    this.#unsubscribeReader = this.#reader.onEvent((e) => this.#onReaderEvent(e));
    if (this.#createWebSocket === null) {
      this.#end('failed', new BridgeError('BRIDGE_NO_WEBSOCKET'));
      return started;
    }
    this.#setState({ link: 'connecting' });
    void this.#initialCard();
    this.#connect();
    return started;
  }

  /**
   * Stops lending: CardRemove and ReaderRemove, waits for the VM's acks (bounded by
   * `stopTimeoutMs`), closes the WebSocket with 1000, powers the card off. Link `stopped`.
   * Safe to call at any time and more than once.
   */
  stop(): Promise<void> {
    if (this.#stopPromise !== null) return this.#stopPromise;
    if (this.#status === 'idle' || this.#status === 'done') {
      if (this.#status === 'idle') {
        this.#status = 'done';
        this.#setState({ link: 'stopped' });
      }
      return Promise.resolve();
    }
    this.#stopPromise = this.#stop(null);
    return this.#stopPromise;
  }

  // ── connection ──────────────────────────────────────────────────────────────

  #connect(): void {
    if (this.#status !== 'running' || this.#createWebSocket === null) return;
    let ws: BridgeWebSocket;
    try {
      ws = this.#createWebSocket(this.#url, this.#protocols);
    } catch (e) {
      this.#log('warn', 'WebSocket creation failed', { error: String(e) });
      this.#onSocketClosed(null, 1006, '');
      return;
    }
    this.#ws = ws;
    this.#wsWasOpen = false;
    this.#ownCloseError = null;
    ws.binaryType = 'arraybuffer';
    ws.addEventListener('open', () => this.#onOpen(ws));
    ws.addEventListener('message', (ev) => this.#onMessage(ws, ev.data));
    ws.addEventListener('close', (ev) => this.#onSocketClosed(ws, ev.code, ev.reason));
    ws.addEventListener('error', () => this.#log('debug', 'WebSocket error event'));
  }

  #onOpen(ws: BridgeWebSocket): void {
    if (ws !== this.#ws) return;
    this.#wsWasOpen = true;
    this.#log('info', 'connected to the relay', { protocol: ws.protocol });
    if (this.#status === 'stopping') {
      // stop() came while connecting: nothing was announced, just close.
      ws.close(1000, 'Lending stopped');
      return;
    }
    if (ws.protocol !== RELAY_SUBPROTOCOL) {
      // Not a cardlend relay (or an incompatible version): do not speak VSCard to it.
      this.#failConnection(
        new BridgeError('BRIDGE_RELAY_PROTOCOL', {
          message: `The server did not agree to the ${RELAY_SUBPROTOCOL} protocol; is this a cardlend relay?`,
        }),
      );
      return;
    }
    const sessionOpts: { readerName: string; ackTimeoutMs?: number } = {
      readerName: this.#readerName,
    };
    if (this.#ackTimeoutMs !== undefined) sessionOpts.ackTimeoutMs = this.#ackTimeoutMs;
    const session = new VscardClientSession(sessionOpts);
    this.#session = session;
    this.#isReaderAnnounced = false;
    this.#isCardAnnounced = false;
    this.#isVmCardCleared = false;
    this.#splitter.reset();
    this.#run(session, () => session.start(this.#now()));
  }

  #onMessage(ws: BridgeWebSocket, data: unknown): void {
    const session = this.#session;
    if (ws !== this.#ws || session === null) return;
    const bytes = messageBytes(data);
    if (bytes === null) {
      this.#failConnection(
        new BridgeError('BRIDGE_RELAY_PROTOCOL', { message: 'The relay sent a text frame.' }),
      );
      return;
    }
    let msg;
    try {
      // QEMU forwards guest commands of up to 65526 bytes (2 more than a client may send).
      msg = decodeMessage(bytes, { maxPayloadBytes: VSCARD_MAX_GUEST_COMMAND_BYTES });
    } catch (e) {
      this.#failConnection(new BridgeError('BRIDGE_RELAY_PROTOCOL', { cause: e }));
      return;
    }
    this.#run(session, () => session.receive(msg, this.#now()));
  }

  /** Ends this connection for good because of `error` (no reconnect). */
  #failConnection(error: BridgeError): void {
    this.#ownCloseError = error;
    const ws = this.#ws;
    if (ws !== null && (ws.readyState === WS_OPEN || ws.readyState === WS_CONNECTING)) {
      ws.close(error.code === 'BRIDGE_RELAY_PROTOCOL' ? 1002 : 1000, error.code);
    } else {
      this.#onSocketClosed(ws, 1006, '');
    }
  }

  #onSocketClosed(ws: BridgeWebSocket | null, code: number, reason: string): void {
    if (ws !== this.#ws) return;
    const wasOpen = this.#wsWasOpen;
    this.#ws = null;
    this.#dropSession();
    this.#log('info', 'relay connection closed', { code, reason, wasOpen });
    if (this.#status === 'stopping') {
      this.#finishStop?.();
      return;
    }
    if (this.#status !== 'running') return;
    if (this.#ownCloseError !== null) {
      const err = this.#ownCloseError;
      this.#ownCloseError = null;
      this.#end('failed', err, code);
      return;
    }
    const c = classifyClose(code, wasOpen);
    const error = new BridgeError(c.code, { closeCode: code });
    // Only a connection that stayed up a while resets the backoff: a relay or VM that accepts
    // and drops at once must not be hammered forever.
    if (this.#lentAtMs !== null && this.#now() - this.#lentAtMs >= STABLE_CONNECTION_MS)
      this.#attempt = 0;
    this.#lentAtMs = null;
    if (c.outcome === 'refused') {
      this.#end('refused', error, code);
    } else if (c.outcome === 'final') {
      const isOrderlyEnd = c.code === 'BRIDGE_RELAY_CLOSED' || c.code === 'BRIDGE_IDLE_TIMEOUT';
      this.#end(isOrderlyEnd ? 'stopped' : 'failed', error, code);
    } else {
      this.#scheduleReconnect(error, code);
    }
  }

  #scheduleReconnect(error: BridgeError, closeCode: number): void {
    this.#attempt++;
    if (this.#attempt > this.#policy.maxAttempts) {
      this.#end('failed', error, closeCode);
      return;
    }
    const delayMs = backoffDelayMs(this.#attempt, this.#policy, this.#random());
    this.#setState({
      link: 'reconnecting',
      error: { code: error.code, message: error.message },
      closeCode,
      reconnectAttempt: this.#attempt,
      nextRetryAtMs: this.#now() + delayMs,
    });
    this.#log('info', 'reconnecting', { attempt: this.#attempt, delayMs });
    this.#reconnectTimer = this.#timers.setTimeout(() => {
      this.#reconnectTimer = null;
      this.#connect();
    }, delayMs);
  }

  /** Forgets the current VSCard session: its timers, its queued guest commands. */
  #dropSession(): void {
    if (this.#sessionTimer !== null) this.#timers.clearTimeout(this.#sessionTimer);
    this.#sessionTimer = null;
    this.#session = null;
    this.#isReaderAnnounced = false;
    this.#isCardAnnounced = false;
    this.#isVmCardCleared = false;
    this.#splitter.reset();
    // Commands of a closed connection can no longer be answered (QEMU flushes them on our next ATR).
    for (const item of this.#queue.splice(0)) this.#logUnanswered(item);
    if (this.#state.card !== null && this.#state.card.vmStatus !== 'not-sent') {
      this.#setState({ card: { ...this.#state.card, vmStatus: 'not-sent' } });
    }
  }

  // ── session actions ─────────────────────────────────────────────────────────

  /** Calls into the session and performs its actions; a throwing session call ends the connection. */
  #run(session: VscardClientSession, call: () => SessionAction[]): void {
    if (session !== this.#session) return;
    let actions: SessionAction[];
    try {
      actions = call();
    } catch (e) {
      this.#log('warn', 'VSCard session rejected an input', { error: String(e) });
      this.#failConnection(new BridgeError('BRIDGE_RELAY_PROTOCOL', { cause: e }));
      return;
    }
    for (const action of actions) {
      if (session !== this.#session) return;
      this.#perform(session, action);
    }
  }

  #perform(session: VscardClientSession, action: SessionAction): void {
    switch (action.type) {
      case 'send': {
        const ws = this.#ws;
        if (ws === null || ws.readyState !== WS_OPEN) return;
        try {
          // The relay closes with BAD_FRAME on anything QEMU would not take (e.g. the
          // FlushComplete the session sends if a non-QEMU host sends Flush, §2.3): never send it.
          validateClientFrame(action.bytes);
        } catch (e) {
          this.#log('warn', `not sending ${action.message.type}: the relay would refuse it`, {
            error: String(e),
          });
          return;
        }
        ws.send(action.bytes);
        return;
      }
      case 'apdu':
        if (this.#queue.length >= MAX_QUEUED_GUEST_COMMANDS) {
          // QEMU never has more than 128 commands outstanding (§4, g10): this is not a VM.
          this.#failConnection(
            new BridgeError('BRIDGE_RELAY_PROTOCOL', {
              message: `More than ${MAX_QUEUED_GUEST_COMMANDS} guest commands were waiting.`,
            }),
          );
          return;
        }
        this.#queue.push({ session, id: action.id, apdu: action.apdu, atMs: this.#now() });
        void this.#pump();
        return;
      case 'event':
        this.#onSessionEvent(session, action.event);
        return;
      case 'arm-timer': {
        // The session keeps one timer: a new request replaces the earlier one.
        if (this.#sessionTimer !== null) this.#timers.clearTimeout(this.#sessionTimer);
        const delayMs = Math.max(0, action.atMs - this.#now());
        this.#sessionTimer = this.#timers.setTimeout(() => {
          this.#sessionTimer = null;
          this.#run(session, () => session.tick(this.#now()));
        }, delayMs);
        return;
      }
      case 'close': {
        const ws = this.#ws;
        if (this.#status === 'running' && this.#ownCloseError === null) {
          this.#ownCloseError = new BridgeError('BRIDGE_VM_NOT_ANSWERING', {
            message: `${BRIDGE_ERRORS.BRIDGE_VM_NOT_ANSWERING.message} (${action.reason})`,
          });
        }
        if (ws !== null && (ws.readyState === WS_OPEN || ws.readyState === WS_CONNECTING)) {
          ws.close(
            1000,
            this.#status === 'stopping' ? 'Lending stopped' : action.reason.slice(0, 100),
          );
        }
        return;
      }
    }
  }

  #onSessionEvent(session: VscardClientSession, event: SessionEvent): void {
    this.#log('debug', `session event ${event.kind}`, { ...event });
    switch (event.kind) {
      case 'reader-added': {
        this.#isReaderAnnounced = true;
        this.#lentAtMs = this.#now();
        if (this.#status !== 'running') return;
        this.#setState({
          link: 'lent',
          error: this.#keepCardError(),
          closeCode: undefined,
          reconnectAttempt: undefined,
          nextRetryAtMs: undefined,
        });
        this.#startWaiters?.resolve();
        this.#startWaiters = null;
        this.#syncCard(session);
        return;
      }
      case 'atr-accepted': {
        const card = this.#state.card;
        this.#setState({
          link: this.#status === 'running' ? 'lent' : this.#state.link,
          card: card === null ? null : { ...card, vmStatus: 'accepted' },
          error: this.#state.error?.code === 'BRIDGE_ATR_REFUSED' ? null : this.#state.error,
        });
        return;
      }
      case 'atr-refused': {
        // The session follows up with a CardRemove (§6 rule 6): the VM shows no card now.
        this.#isCardAnnounced = false;
        this.#isVmCardCleared = true;
        const card = this.#state.card;
        const reason = card?.predictedRefusal;
        const message =
          `${BRIDGE_ERRORS.BRIDGE_ATR_REFUSED.message}` +
          (reason !== null && reason !== undefined ? ` Likely cause: ${reason}.` : '');
        this.#setState({
          link: this.#status === 'running' ? 'refused' : this.#state.link,
          card: card === null ? null : { ...card, vmStatus: 'refused' },
          error: { code: 'BRIDGE_ATR_REFUSED', message },
        });
        return;
      }
      case 'reader-refused':
        this.#failConnection(
          new BridgeError('BRIDGE_READER_REFUSED', {
            message: `${BRIDGE_ERRORS.BRIDGE_READER_REFUSED.message} (code ${event.code})`,
          }),
        );
        return;
      case 'ack-timeout':
        if (this.#status === 'running') {
          this.#failConnection(
            new BridgeError('BRIDGE_VM_NOT_ANSWERING', {
              message: `${BRIDGE_ERRORS.BRIDGE_VM_NOT_ANSWERING.message} (waiting for ${event.waitingFor})`,
            }),
          );
        }
        return;
      case 'guest-command-refused':
        // The VM still showed a card we do not lend; the session answered VSC_Error.
        this.#log('info', 'guest command without a lent card answered with VSC_Error');
        return;
      case 'card-removed':
      case 'reader-removed':
      case 'host-init':
      case 'closed':
      case 'stale-answer-dropped':
      case 'guest-command-flushed':
      case 'request-refused':
      case 'unexpected-message':
      case 'reconnect-requested':
        return;
    }
  }

  /** The card-level error to keep visible when the link recovers (e.g. a mute card), else null. */
  #keepCardError(): BridgeState['error'] {
    const e = this.#state.error;
    if (e === null) return null;
    return e.code === 'BRIDGE_CARD_MUTE' ||
      e.code === 'BRIDGE_CARD_PROTOCOL' ||
      e.code === 'BRIDGE_READER_ERROR'
      ? e
      : null;
  }

  /**
   * Makes the VM's view of the card match the reader once the reader is announced: the ATR
   * of a powered card, or a CardRemove when there is none — QEMU may still show a card from
   * before a reconnect or from an earlier session (vscard-protocol.md §6 rule 7). Waits while
   * a slot status or power-on is in progress, so a present card is not first removed.
   */
  #syncCard(session: VscardClientSession | null): void {
    if (session === null || session !== this.#session || !this.#isReaderAnnounced) return;
    if (this.#status !== 'running') return;
    const card = this.#state.card;
    if (card !== null) {
      if (this.#isCardAnnounced || card.vmStatus === 'refused') return;
      this.#isCardAnnounced = true;
      this.#isVmCardCleared = false;
      this.#setState({ card: { ...card, vmStatus: 'pending' } });
      this.#run(session, () => session.insertCard(card.presentedAtr, this.#now()));
      return;
    }
    if (this.#probing > 0 || this.#isCardAnnounced || this.#isVmCardCleared) return;
    this.#isVmCardCleared = true;
    this.#run(session, () => session.removeCard(this.#now()));
  }

  // ── reader ──────────────────────────────────────────────────────────────────

  /** Runs reader calls one at a time (the driver allows one exchange in flight per slot). */
  #readerOp<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.#readerChain.then(fn);
    this.#readerChain = p.then(
      () => undefined,
      () => undefined,
    );
    return p;
  }

  async #initialCard(): Promise<void> {
    this.#probing++;
    try {
      let status: 'active' | 'inactive' | 'absent';
      try {
        status = await this.#readerOp(() => this.#reader.getSlotStatus(this.#slot));
      } catch (e) {
        this.#onReaderFailure(bridgeErrorFromReader(e));
        return;
      }
      if (status !== 'absent') await this.#powerOnCard();
    } finally {
      this.#probing--;
      this.#syncCard(this.#session);
    }
  }

  async #powerOnCard(): Promise<void> {
    this.#probing++;
    try {
      await this.#powerOnCardUnguarded();
    } finally {
      this.#probing--;
      this.#syncCard(this.#session);
    }
  }

  async #powerOnCardUnguarded(): Promise<void> {
    const generation = ++this.#cardGeneration;
    let result: { atr: Uint8Array; protocol: 0 | 1 };
    try {
      result = await this.#readerOp(() => this.#reader.powerOn(this.#slot));
    } catch (e) {
      if (generation !== this.#cardGeneration) return;
      const err = bridgeErrorFromReader(e);
      if (isReaderLost(err.code)) {
        this.#onReaderGone(err.code);
        return;
      }
      if (err.code !== 'BRIDGE_CARD_ABSENT')
        this.#setState({ error: { code: err.code, message: err.message } });
      return;
    }
    if (generation !== this.#cardGeneration || this.#status !== 'running') return;
    const atr = result.atr.slice();
    const { presentedAtr, isT0Compat } = this.#presentedAtr(atr);
    const check = qemu72AcceptsAtr(presentedAtr);
    const predictedRefusal = check.ok ? null : check.reason;
    if (predictedRefusal !== null)
      this.#log('warn', 'QEMU 7.2 will probably refuse this ATR', { reason: predictedRefusal });
    const error = this.#state.error;
    this.#setState({
      card: {
        atr,
        protocol: result.protocol,
        presentedAtr,
        isT0Compat,
        predictedRefusal,
        vmStatus: 'not-sent',
      },
      error:
        error !== null &&
        (error.code.startsWith('BRIDGE_CARD_') || error.code === 'BRIDGE_ATR_REFUSED')
          ? null
          : error,
    });
    this.#splitter.reset();
    const session = this.#session;
    this.#syncCard(session);
  }

  #presentedAtr(atr: Uint8Array): { presentedAtr: Uint8Array; isT0Compat: boolean } {
    if (this.#t0Compat === 'never') return { presentedAtr: atr, isT0Compat: false };
    let isT1Only: boolean;
    try {
      isT1Only = !parseAtr(atr).protocols.includes(0);
    } catch {
      return { presentedAtr: atr, isT0Compat: false }; // unparsable ATR: present it as is, QEMU decides
    }
    if (this.#t0Compat === 'auto' && !isT1Only) return { presentedAtr: atr, isT0Compat: false };
    try {
      const presentedAtr = toQemuT0CompatibleAtr(atr);
      const isSame =
        presentedAtr.length === atr.length && presentedAtr.every((b, i) => b === atr[i]);
      return { presentedAtr, isT0Compat: !isSame };
    } catch {
      return { presentedAtr: atr, isT0Compat: false };
    }
  }

  #onReaderEvent(e: BridgeReaderEvent): void {
    if (this.#status !== 'running' && this.#status !== 'stopping') return;
    if (e.type === 'reader-gone') {
      this.#onReaderGone();
      return;
    }
    if (e.slot !== this.#slot) return;
    switch (e.type) {
      case 'card-inserted':
        if (this.#status === 'running') void this.#powerOnCard();
        return;
      case 'card-removed':
        this.#onCardGone(null);
        return;
      case 'hardware-error':
        this.#onCardGone(
          new BridgeError('BRIDGE_READER_ERROR', {
            message: `${BRIDGE_ERRORS.BRIDGE_READER_ERROR.message} (code ${e.code})`,
          }),
        );
        return;
    }
  }

  /** The card left (pulled, or a hardware error): tell the VM, fail what waits for it. */
  #onCardGone(error: BridgeError | null): void {
    this.#cardGeneration++;
    this.#splitter.reset();
    const wasAnnounced = this.#isCardAnnounced;
    this.#isCardAnnounced = false;
    const link =
      this.#state.link === 'refused' && this.#state.error?.code === 'BRIDGE_ATR_REFUSED'
        ? 'lent'
        : this.#state.link;
    const keptError = this.#state.error?.code === 'BRIDGE_ATR_REFUSED' ? null : this.#state.error;
    this.#setState({
      card: null,
      link,
      error: error === null ? keptError : { code: error.code, message: error.message },
    });
    const session = this.#session;
    if (session !== null && wasAnnounced && this.#status === 'running') {
      this.#isVmCardCleared = true;
      this.#run(session, () => session.removeCard(this.#now()));
    }
  }

  /** The reader is unusable for good (unplugged, or its handle closed): lending stops with `code`. */
  #onReaderGone(code: 'BRIDGE_READER_GONE' | 'BRIDGE_READER_CLOSED' = 'BRIDGE_READER_GONE'): void {
    if (this.#isReaderGone) return;
    this.#isReaderGone = true;
    this.#cardGeneration++;
    this.#log('info', code === 'BRIDGE_READER_GONE' ? 'reader gone' : 'reader closed');
    if (this.#status === 'running') {
      this.#stopPromise = this.#stop(new BridgeError(code));
      void this.#stopPromise;
    }
  }

  #onReaderFailure(err: BridgeError): void {
    if (isReaderLost(err.code)) this.#onReaderGone(err.code);
    else this.#setState({ error: { code: err.code, message: err.message } });
  }

  // ── guest commands ──────────────────────────────────────────────────────────

  async #pump(): Promise<void> {
    if (this.#isPumping) return;
    this.#isPumping = true;
    try {
      for (let item = this.#queue.shift(); item !== undefined; item = this.#queue.shift()) {
        await this.#serve(item);
      }
    } finally {
      this.#isPumping = false;
    }
  }

  /** Answers one guest command: from the GET RESPONSE buffer, from the card, or 6F00. */
  async #serve(item: QueuedApdu): Promise<void> {
    if (item.session !== this.#session) {
      this.#logUnanswered(item);
      return;
    }
    let answer: Uint8Array;
    let answeredBy: ApduAnswerSource = 'card';
    let errorCode: BridgeErrorCode | undefined;
    const decision = this.#splitter.handleCommand(item.apdu);
    if (decision.kind === 'serve') {
      answer = decision.answer;
      answeredBy = 'bridge-buffer';
    } else if (this.#state.card === null || this.#isReaderGone) {
      answer = SW_NO_PRECISE_DIAGNOSIS.slice();
      answeredBy = 'bridge-error';
      errorCode = this.#isReaderGone ? 'BRIDGE_READER_GONE' : 'BRIDGE_CARD_ABSENT';
    } else {
      const generation = this.#cardGeneration;
      try {
        const response = await this.#readerOp(() =>
          this.#reader.transmit(item.apdu, { slot: this.#slot }),
        );
        if (generation === this.#cardGeneration) {
          answer = this.#splitter.handleAnswer(response);
        } else {
          // The card changed under this command; its answer belongs to no one (§6 rule 5).
          answer = SW_NO_PRECISE_DIAGNOSIS.slice();
          answeredBy = 'bridge-error';
          errorCode = 'BRIDGE_CARD_ABSENT';
        }
      } catch (e) {
        const err = bridgeErrorFromReader(e);
        answer = SW_NO_PRECISE_DIAGNOSIS.slice();
        answeredBy = 'bridge-error';
        errorCode = err.code;
        this.#log('warn', 'transmit failed', { code: err.code });
        if (isReaderLost(err.code)) this.#onReaderGone(err.code);
        else if (
          err.code === 'BRIDGE_CARD_MUTE' ||
          err.code === 'BRIDGE_CARD_PROTOCOL' ||
          err.code === 'BRIDGE_READER_TIMEOUT'
        ) {
          this.#setState({ error: { code: err.code, message: err.message } });
        }
      }
    }
    const isSent = item.session === this.#session;
    if (isSent)
      this.#run(item.session, () => item.session.answerApdu(item.id, answer, this.#now()));
    const entryInput: Parameters<typeof createLogEntry>[0] = {
      id: ++this.#logId,
      atMs: item.atMs,
      command: item.apdu,
      response: isSent ? answer : null,
      latencyMs: this.#now() - item.atMs,
      answeredBy,
    };
    if (errorCode !== undefined) entryInput.errorCode = errorCode;
    this.#emitApdu(createLogEntry(entryInput));
    if (describeApdu(item.apdu).isSensitive) item.apdu.fill(0); // PIN bytes do not linger in memory
  }

  #logUnanswered(item: QueuedApdu): void {
    this.#emitApdu(
      createLogEntry({
        id: ++this.#logId,
        atMs: item.atMs,
        command: item.apdu,
        response: null,
        latencyMs: this.#now() - item.atMs,
        answeredBy: 'bridge-error',
        errorCode: 'BRIDGE_CONNECTION_LOST',
      }),
    );
    if (describeApdu(item.apdu).isSensitive) item.apdu.fill(0);
  }

  // ── stop / end ──────────────────────────────────────────────────────────────

  async #stop(reason: BridgeError | null): Promise<void> {
    this.#status = 'stopping';
    this.#clearReconnectTimer();
    const wasRejected = this.#startWaiters;
    this.#startWaiters = null;
    wasRejected?.reject(
      reason ??
        new BridgeError('BRIDGE_RELAY_CLOSED', {
          message: 'Lending was stopped before the VM acknowledged the reader.',
        }),
    );
    const ws = this.#ws;
    const session = this.#session;
    if (ws !== null) {
      const closed = new Promise<void>((resolve) => {
        this.#finishStop = resolve;
      });
      this.#stopTimer = this.#timers.setTimeout(() => {
        this.#log('warn', 'stop timed out; closing without all acks');
        this.#finishStop?.();
      }, this.#stopTimeoutMs);
      if (session !== null && ws.readyState === WS_OPEN) {
        // CardRemove + ReaderRemove, then the session asks to close once both are acked (§6 "shutting down").
        this.#run(session, () => session.close(this.#now()));
      } else if (ws.readyState === WS_OPEN) {
        ws.close(1000, 'Lending stopped');
      }
      // While connecting, #onOpen closes the socket as soon as it opens.
      await closed;
      this.#timers.clearTimeout(this.#stopTimer);
      this.#stopTimer = null;
      this.#finishStop = null;
      if (this.#ws !== null) {
        const w = this.#ws;
        this.#ws = null;
        if (w.readyState === WS_OPEN || w.readyState === WS_CONNECTING)
          w.close(1000, 'Lending stopped');
      }
    }
    this.#dropSession();
    const isPowerOff = this.#isPowerOffOnStop && !this.#isReaderGone && this.#state.card !== null;
    this.#cardGeneration++;
    if (isPowerOff) {
      // Bounded: a reader exchange that never ends must not hold stop() forever.
      let timer: unknown = null;
      const timedOut = new Promise<void>((resolve) => {
        timer = this.#timers.setTimeout(resolve, this.#stopTimeoutMs);
      });
      const powerOff = this.#readerOp(() => this.#reader.powerOff(this.#slot)).catch(
        (e: unknown) => {
          this.#log('warn', 'power off after stop failed', { error: String(e) });
        },
      );
      await Promise.race([powerOff, timedOut]);
      this.#timers.clearTimeout(timer);
    }
    this.#end('stopped', reason);
  }

  /** Final state; releases the reader subscription and all timers. */
  #end(
    link: 'stopped' | 'failed' | 'refused',
    error: BridgeError | null,
    closeCode?: number,
  ): void {
    this.#status = 'done';
    this.#clearReconnectTimer();
    this.#dropSession();
    this.#unsubscribeReader?.();
    this.#unsubscribeReader = null;
    this.#setState({
      link,
      card: null,
      error: error === null ? null : { code: error.code, message: error.message },
      closeCode: closeCode ?? error?.closeCode,
      reconnectAttempt: undefined,
      nextRetryAtMs: undefined,
    });
    if (this.#startWaiters !== null) {
      this.#startWaiters.reject(error ?? new BridgeError('BRIDGE_RELAY_CLOSED'));
      this.#startWaiters = null;
    }
  }

  #clearReconnectTimer(): void {
    if (this.#reconnectTimer !== null) this.#timers.clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = null;
  }

  // ── plumbing ────────────────────────────────────────────────────────────────

  /** Applies a change; `undefined` for an optional field removes it. */
  #setState(patch: StatePatch): void {
    const next: BridgeState = {
      link: patch.link ?? this.#state.link,
      card: patch.card === undefined ? this.#state.card : patch.card,
      error: patch.error === undefined ? this.#state.error : patch.error,
    };
    for (const key of ['closeCode', 'reconnectAttempt', 'nextRetryAtMs'] as const) {
      const value = key in patch ? patch[key] : this.#state[key];
      if (value !== undefined) next[key] = value;
    }
    this.#state = Object.freeze(next);
    for (const l of [...this.#stateListeners]) {
      try {
        l(this.#state);
      } catch (e) {
        this.#log('warn', 'state listener threw', { error: String(e) });
      }
    }
  }

  #emitApdu(entry: ApduLogEntry): void {
    for (const l of [...this.#apduListeners]) {
      try {
        l(entry);
      } catch (e) {
        this.#log('warn', 'APDU listener threw', { error: String(e) });
      }
    }
  }

  #log(level: BridgeLogEvent['level'], message: string, data?: Record<string, unknown>): void {
    if (this.#onLog === undefined) return;
    try {
      this.#onLog(data === undefined ? { level, message } : { level, message, data });
    } catch {
      // a throwing log sink must not break lending
    }
  }
}
