/**
 * A Node stand-in for the lending page (tests and benchmarks, issue 11 §3): lends a
 * {@link SimpleCard} through the relay's WebSocket with the page's own VSCard session
 * (`VscardClientSession`). It offers the long-answers subprotocol when asked; if the relay
 * selects it, answers go out whole and the relay splits them, otherwise this client splits
 * answers longer than 374 bytes itself and serves GET RESPONSE (as the page's bridge does).
 * It counts every guest command it receives: each one is a round trip over the WAN between
 * page and relay.
 */
import {
  ChainCollector,
  decodeMessage,
  LongAnswerSplitter,
  relaySplitsLongAnswers,
  relaySubprotocols,
  toQemuT0CompatibleAtr,
  VscardClientSession,
  VSCARD_MAX_PAYLOAD_BYTES,
  type SessionAction,
} from '@cardlend/vscard';
import { WebSocket, type RawData } from 'ws';
import { GuestImageError } from './errors.ts';
import type { SimpleCard } from './test-card.ts';

/** Options of {@link startPageClient}. */
export interface PageClientOptions {
  /** `ws://host:port/vscard` of the relay. */
  url: string;
  card: SimpleCard;
  /** Offer `cardlend.vscard.v1.long-answers` (a new page); default false (an older page). */
  isOfferingLongAnswers?: boolean;
  token?: string;
  /** Wait this long for the card to be accepted, ms (default 20 000). */
  readyTimeoutMs?: number;
}

/** A lending page stand-in, card inserted. */
export interface PageClient {
  /** The subprotocol the relay selected. */
  readonly protocol: string;
  /** Whether the relay splits long answers (it selected the long-answers subprotocol). */
  readonly isRelaySplitting: boolean;
  /** Guest commands received (each one a WAN round trip). */
  readonly commandsReceived: number;
  /** Of them, GET RESPONSEs this client answered from its own buffer. */
  readonly getResponsesServedHere: number;
  /** The relay's close code and reason, once closed. */
  readonly closed: Promise<{ code: number; reason: string }>;
  /** CardRemove + ReaderRemove, acks awaited, then close 1000. */
  stop(): Promise<void>;
}

type CloseInfo = { code: number; reason: string };

/** Counters behind {@link PageClient.commandsReceived} and {@link PageClient.getResponsesServedHere}. */
interface CommandStats {
  commands: number;
  served: number;
}

/** Where the session's events go: the current {@link waitForEvent} listener. */
interface EventTap {
  onEvent: (kind: string) => void;
}

/**
 * Opens the WebSocket, runs Init / ReaderAdd / ATR and resolves once QEMU accepted the card.
 * @throws GuestImageError GUEST_VSCARD_PEER when the relay refuses, closes or the ATR is refused.
 */
export async function startPageClient(opts: PageClientOptions): Promise<PageClient> {
  const { ws, closed } = await openRelaySocket(opts);
  const isRelaySplitting = relaySplitsLongAnswers(ws.protocol);
  const session = new VscardClientSession({
    readerName: 'page stand-in',
    ...(isRelaySplitting ? { maxAnswerBytes: VSCARD_MAX_PAYLOAD_BYTES } : {}),
  });
  const splitter = isRelaySplitting ? undefined : new LongAnswerSplitter();
  const stats: CommandStats = { commands: 0, served: 0 };
  const tap: EventTap = { onEvent: () => undefined };
  let chain: Promise<void> = Promise.resolve();

  const run = (actions: SessionAction[]): void => {
    for (const a of actions) {
      if (a.type === 'send') {
        if (ws.readyState === WebSocket.OPEN) ws.send(a.bytes, { binary: true });
      } else if (a.type === 'apdu') {
        stats.commands++;
        const { id } = a;
        const apdu = a.apdu.slice();
        chain = chain.then(async () => {
          const answer = await answerCommand(opts.card, splitter, apdu, stats);
          run(session.answerApdu(id, answer, performance.now()));
        });
      } else if (a.type === 'event') {
        tap.onEvent(a.event.kind);
      } else if (a.type === 'close') {
        ws.close(1000, a.reason.slice(0, 100));
      }
      // 'arm-timer': the ack timeout is not needed here (QEMU answers in milliseconds).
    }
  };
  ws.on('message', (data: RawData) => {
    const bytes = Buffer.isBuffer(data) ? data : Buffer.from(data as ArrayBuffer);
    run(session.receive(decodeMessage(new Uint8Array(bytes)), performance.now()));
  });
  const ready = waitForEvent(
    tap,
    closed,
    ['atr-accepted', 'atr-refused'],
    opts.readyTimeoutMs ?? 20_000,
  );
  run(session.start(performance.now()));
  // As the bridge does (t0Compat 'auto'): a T=1-only card is shown with a T=0 ATR (vscard §4).
  run(session.insertCard(toQemuT0CompatibleAtr(opts.card.atr), performance.now()));
  if ((await ready) !== 'atr-accepted')
    throw new GuestImageError('GUEST_VSCARD_PEER', 'QEMU refused the ATR');
  return {
    protocol: ws.protocol,
    isRelaySplitting,
    get commandsReceived() {
      return stats.commands;
    },
    get getResponsesServedHere() {
      return stats.served;
    },
    closed,
    async stop() {
      const done = waitForEvent(tap, closed, ['closed'], 5000).catch(() => 'closed');
      run(session.close(performance.now()));
      await done;
      if (ws.readyState === WebSocket.OPEN) ws.close(1000);
      await closed;
    },
  };
}

/** Connects to the relay with the subprotocols this page offers; resolves once the WebSocket is open. */
async function openRelaySocket(
  opts: PageClientOptions,
): Promise<{ ws: WebSocket; closed: Promise<CloseInfo> }> {
  const offered = relaySubprotocols(opts.token, {
    longAnswers: opts.isOfferingLongAnswers === true,
  });
  const ws = new WebSocket(opts.url, offered, { perMessageDeflate: false });
  ws.binaryType = 'nodebuffer';
  ws.on('error', () => undefined);
  const closed = new Promise<CloseInfo>((resolve) =>
    ws.on('close', (code: number, reason: Buffer) => resolve({ code, reason: reason.toString() })),
  );
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('close', (code: number) =>
      reject(new GuestImageError('GUEST_VSCARD_PEER', `the relay closed the WebSocket: ${code}`)),
    );
  });
  return { ws, closed };
}

/**
 * The answer to one guest command: a GET RESPONSE this client serves from its own buffer, or
 * the card's answer (split here when the relay does not split, its `61xx` chain collected when it does).
 */
async function answerCommand(
  card: SimpleCard,
  splitter: LongAnswerSplitter | undefined,
  apdu: Uint8Array,
  stats: CommandStats,
): Promise<Uint8Array> {
  const local = splitter?.handleCommand(apdu);
  if (local?.kind === 'serve') {
    stats.served++;
    return local.answer;
  }
  const whole = splitter
    ? await card.process(apdu)
    : await collectChain(card, apdu, await card.process(apdu));
  return splitter ? splitter.handleAnswer(whole) : whole;
}

/** Resolves with the first session event of `kinds`; rejects after `ms` or when the relay closes. */
function waitForEvent(
  tap: EventTap,
  closed: Promise<CloseInfo>,
  kinds: readonly string[],
  ms: number,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(
      () => reject(new GuestImageError('GUEST_VSCARD_PEER', `no ${kinds.join('/')} in ${ms} ms`)),
      ms,
    );
    tap.onEvent = (kind) => {
      if (!kinds.includes(kind)) return;
      clearTimeout(t);
      resolve(kind);
    };
    void closed.then(({ code, reason }) =>
      reject(new GuestImageError('GUEST_VSCARD_PEER', `relay closed: ${code} ${reason}`)),
    );
  });
}

/**
 * When the relay splits (long-answers contract), a card's own `61xx` chain is collected here
 * with GET RESPONSE, next to the card, and sent whole: the guest's GET RESPONSEs are then
 * served by the relay instead of crossing the WAN (the bridge uses the same ChainCollector).
 */
export async function collectChain(
  card: SimpleCard,
  command: Uint8Array,
  first: Uint8Array,
): Promise<Uint8Array> {
  const chain = new ChainCollector(command, true);
  let next = chain.add(first);
  while (next) next = chain.add(await card.process(next));
  return chain.answer();
}
