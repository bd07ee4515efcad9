/**
 * A minimal VSCard client on the host that lends an in-process card straight to QEMU's
 * `ccid-card-passthru` chardev over TCP (no relay, no browser): the baseline of the
 * end-to-end benchmark. Protocol: shared/docs/vscard-protocol.md §2–§5.
 */
import { connect, type Socket } from 'node:net';
import {
  VscardDecoder,
  encodeMessage,
  VSC_MINIMAL_READER_ID,
  type VscardMessage,
} from '@cardlend/vscard';
import { GuestImageError } from './errors.ts';
import { GetResponseSplitter } from './get-response.ts';
import type { SimpleCard } from './test-card.ts';

/** One guest command and the answer sent back. */
export interface DirectCardExchange {
  command: Uint8Array;
  /** What was sent to QEMU (after long-answer splitting). */
  answer: Uint8Array;
  /** `performance.now()` when the command arrived, ms. */
  atMs: number;
  /** Time from the command's arrival to the answer's write, ms. */
  cardMs: number;
}

/** Options of {@link startDirectCard}. */
export interface DirectCardOptions {
  /** QEMU's chardev port on `host`. */
  port: number;
  /** Default `127.0.0.1`. */
  host?: string;
  /** The card to lend; inserted right after connecting unless `isInsertedAtStart` is false. */
  card: SimpleCard;
  /** Default true. */
  isInsertedAtStart?: boolean;
  /** Reader name sent in ReaderAdd (QEMU ignores it). */
  readerName?: string;
  /** Keep retrying the TCP connect this long (QEMU may still be starting), ms (default 10000). */
  connectTimeoutMs?: number;
  /** Wait this long for each QEMU acknowledgement, ms (default 5000). */
  ackTimeoutMs?: number;
  /** Split answers longer than this into 61xx/GET RESPONSE pieces, bytes (default 374; see get-response.ts). */
  maxAnswerBytes?: number;
}

/** A connected direct card. */
export interface DirectCard {
  /** Every guest command answered so far. */
  readonly exchanges: readonly DirectCardExchange[];
  /** `performance.now()` of the first guest command, or null. */
  readonly firstApduAtMs: number | null;
  /** Sends ATR (card inserted / replaced) and waits for QEMU's ack. @throws GuestImageError GUEST_VSCARD_PEER if refused. */
  insertCard(card?: SimpleCard): Promise<void>;
  /** Sends CardRemove and waits for the ack. */
  removeCard(): Promise<void>;
  /** CardRemove + ReaderRemove (acked), then closes the socket: the guest sees no stale card (qemu-guest.md "Disconnect"). */
  close(): Promise<void>;
  /** Closes the socket without telling QEMU anything (to test stale-card handling). */
  destroy(): void;
}

/**
 * Connects to QEMU's VSCard chardev, sends Init + ReaderAdd (+ ATR), and answers guest
 * commands from `card` in arrival order (QEMU correlates answers FIFO, §4).
 * @throws GuestImageError GUEST_VSCARD_PEER when the connection fails, an ack times out or the ATR is refused.
 */
export async function startDirectCard(opts: DirectCardOptions): Promise<DirectCard> {
  const socket = await connectWithRetry(
    opts.host ?? '127.0.0.1',
    opts.port,
    opts.connectTimeoutMs ?? 10_000,
  );
  socket.setNoDelay(true);
  const link = new DirectCardLink(socket, opts);
  try {
    link.send({
      type: 'Init',
      readerId: VSC_MINIMAL_READER_ID,
      magic: new TextEncoder().encode('VSCD'),
      version: 2,
      capabilities: [0],
    });
    await link.expectOk({
      type: 'ReaderAdd',
      readerId: VSC_MINIMAL_READER_ID,
      name: opts.readerName ?? 'cardlend direct card',
    });
    if (opts.isInsertedAtStart !== false) await link.insertCard();
  } catch (e) {
    // Leave QEMU's stream on a message boundary and free the connection for the next client (§5).
    socket.destroy();
    throw e;
  }
  return {
    exchanges: link.exchanges,
    get firstApduAtMs() {
      return link.firstApduAtMs;
    },
    insertCard: (card) => link.insertCard(card),
    removeCard: () => link.expectOk({ type: 'CardRemove', readerId: VSC_MINIMAL_READER_ID }),
    close: () => link.close(),
    destroy() {
      socket.destroy();
    },
  };
}

interface PendingAck {
  resolve: (code: number) => void;
  reject: (e: Error) => void;
}

/** The connected VSCard stream: acknowledgements, guest commands answered in order, failure. */
class DirectCardLink {
  readonly exchanges: DirectCardExchange[] = [];
  firstApduAtMs: number | null = null;
  readonly #socket: Socket;
  readonly #ackTimeoutMs: number;
  readonly #decoder = new VscardDecoder();
  readonly #splitter: GetResponseSplitter;
  readonly #acks: PendingAck[] = [];
  #card: SimpleCard;
  #failure: GuestImageError | null = null;
  #chain: Promise<void> = Promise.resolve();

  constructor(socket: Socket, opts: DirectCardOptions) {
    this.#socket = socket;
    this.#card = opts.card;
    this.#ackTimeoutMs = opts.ackTimeoutMs ?? 5000;
    this.#splitter = new GetResponseSplitter(
      opts.maxAnswerBytes === undefined ? {} : { maxAnswerBytes: opts.maxAnswerBytes },
    );
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (cause) =>
      this.#fail(new GuestImageError('GUEST_VSCARD_PEER', 'VSCard socket error', { cause })),
    );
    socket.on('close', () =>
      this.#fail(new GuestImageError('GUEST_VSCARD_PEER', 'VSCard connection closed')),
    );
  }

  send(msg: VscardMessage): void {
    if (!this.#socket.destroyed) this.#socket.write(encodeMessage(msg));
  }

  /** Sends a control message and waits for QEMU's VSC_Error acknowledgement; refusals throw. */
  async expectOk(msg: VscardMessage): Promise<void> {
    const code = await this.#control(msg);
    if (code !== 0)
      throw new GuestImageError(
        'GUEST_VSCARD_PEER',
        `QEMU refused ${msg.type} (VSC_Error ${code})`,
      );
  }

  async insertCard(next?: SimpleCard): Promise<void> {
    if (next) this.#card = next;
    this.#card.reset?.();
    await this.expectOk({ type: 'ATR', readerId: VSC_MINIMAL_READER_ID, atr: this.#card.atr });
  }

  async close(): Promise<void> {
    if (!this.#failure) {
      await this.expectOk({ type: 'CardRemove', readerId: VSC_MINIMAL_READER_ID });
      await this.expectOk({ type: 'ReaderRemove', readerId: VSC_MINIMAL_READER_ID });
    }
    const socket = this.#socket;
    await new Promise<void>((resolve) => {
      if (socket.destroyed) resolve();
      else socket.end(() => resolve());
    });
    socket.destroy();
  }

  #fail(e: GuestImageError): void {
    this.#failure ??= e;
    for (const a of this.#acks.splice(0)) a.reject(this.#failure);
    this.#socket.destroy();
  }

  #control(msg: VscardMessage): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      if (this.#failure) {
        reject(this.#failure);
        return;
      }
      const t = setTimeout(() => {
        this.#fail(
          new GuestImageError(
            'GUEST_VSCARD_PEER',
            `no acknowledgement for ${msg.type} within ${this.#ackTimeoutMs} ms`,
          ),
        );
      }, this.#ackTimeoutMs);
      this.#acks.push({
        resolve: (code) => (clearTimeout(t), resolve(code)),
        reject: (e) => (clearTimeout(t), reject(e)),
      });
      this.send(msg);
    });
  }

  #onData(chunk: Buffer): void {
    let messages: VscardMessage[];
    try {
      messages = this.#decoder.push(
        new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength),
      );
    } catch (cause) {
      this.#fail(
        new GuestImageError('GUEST_VSCARD_PEER', 'QEMU sent a malformed VSCard stream', { cause }),
      );
      return;
    }
    for (const msg of messages) {
      if (msg.type === 'Error') {
        // §2.4: host→client Error is the reply to the oldest control message.
        this.#acks.shift()?.resolve(msg.code);
      } else if (msg.type === 'APDU') {
        const atMs = performance.now();
        this.firstApduAtMs ??= atMs;
        const command = msg.apdu.slice();
        this.#chain = this.#chain.then(() => this.#answerOrError(command, atMs));
      }
      // Init replies need no action (§5: never wait for QEMU's Init).
    }
  }

  async #answerOrError(command: Uint8Array, atMs: number): Promise<void> {
    try {
      const held = this.#splitter.intercept(command);
      const out = held ?? this.#splitter.shape(await this.#card.process(command));
      this.send({ type: 'APDU', readerId: VSC_MINIMAL_READER_ID, apdu: out });
      this.exchanges.push({ command, answer: out, atMs, cardMs: performance.now() - atMs });
    } catch {
      // The card failed: answer with VSC_Error so the guest is not left waiting (§2.4).
      this.send({ type: 'Error', readerId: VSC_MINIMAL_READER_ID, code: 1 });
      const cardMs = performance.now() - atMs;
      this.exchanges.push({ command, answer: new Uint8Array(0), atMs, cardMs });
    }
  }
}

function connectWithRetry(host: string, port: number, timeoutMs: number): Promise<Socket> {
  const deadline = performance.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = (): void => {
      const s = connect({ host, port });
      s.once('connect', () => {
        s.removeAllListeners('error');
        resolve(s);
      });
      s.once('error', (cause) => {
        s.destroy();
        if (performance.now() > deadline) {
          reject(
            new GuestImageError('GUEST_VSCARD_PEER', `cannot connect to ${host}:${port}`, {
              cause,
            }),
          );
        } else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}
