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
  const ackTimeoutMs = opts.ackTimeoutMs ?? 5000;
  const decoder = new VscardDecoder();
  const splitter = new GetResponseSplitter(
    opts.maxAnswerBytes === undefined ? {} : { maxAnswerBytes: opts.maxAnswerBytes },
  );
  let card = opts.card;
  const exchanges: DirectCardExchange[] = [];
  let firstApduAtMs: number | null = null;
  let failure: GuestImageError | null = null;
  const acks: { what: string; resolve: (code: number) => void; reject: (e: Error) => void }[] = [];
  let chain: Promise<void> = Promise.resolve();

  const fail = (e: GuestImageError): void => {
    failure ??= e;
    for (const a of acks.splice(0)) a.reject(failure);
    socket.destroy();
  };
  const send = (msg: VscardMessage): void => {
    if (!socket.destroyed) socket.write(encodeMessage(msg));
  };
  const control = (msg: VscardMessage): Promise<number> =>
    new Promise<number>((resolve, reject) => {
      if (failure) {
        reject(failure);
        return;
      }
      const entry = { what: msg.type, resolve, reject };
      const t = setTimeout(() => {
        fail(
          new GuestImageError(
            'GUEST_VSCARD_PEER',
            `no acknowledgement for ${msg.type} within ${ackTimeoutMs} ms`,
          ),
        );
      }, ackTimeoutMs);
      entry.resolve = (code) => (clearTimeout(t), resolve(code));
      entry.reject = (e) => (clearTimeout(t), reject(e));
      acks.push(entry);
      send(msg);
    });

  const answer = async (command: Uint8Array, atMs: number): Promise<void> => {
    const held = splitter.intercept(command);
    const raw = held ?? (await card.process(command));
    const out = held ?? splitter.shape(raw);
    send({ type: 'APDU', readerId: VSC_MINIMAL_READER_ID, apdu: out });
    exchanges.push({ command, answer: out, atMs, cardMs: performance.now() - atMs });
  };

  socket.on('data', (chunk: Buffer) => {
    let messages: VscardMessage[];
    try {
      messages = decoder.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    } catch (cause) {
      fail(
        new GuestImageError('GUEST_VSCARD_PEER', 'QEMU sent a malformed VSCard stream', { cause }),
      );
      return;
    }
    for (const msg of messages) {
      if (msg.type === 'Error') {
        // §2.4: host→client Error is the reply to the oldest control message.
        acks.shift()?.resolve(msg.code);
      } else if (msg.type === 'APDU') {
        const atMs = performance.now();
        firstApduAtMs ??= atMs;
        const command = msg.apdu.slice();
        chain = chain.then(() =>
          answer(command, atMs).catch((cause: unknown) => {
            // The card failed: answer with VSC_Error so the guest is not left waiting (§2.4).
            send({ type: 'Error', readerId: VSC_MINIMAL_READER_ID, code: 1 });
            exchanges.push({
              command,
              answer: new Uint8Array(0),
              atMs,
              cardMs: performance.now() - atMs,
            });
            void cause;
          }),
        );
      }
      // Init replies need no action (§5: never wait for QEMU's Init).
    }
  });
  socket.on('error', (cause) =>
    fail(new GuestImageError('GUEST_VSCARD_PEER', 'VSCard socket error', { cause })),
  );
  socket.on('close', () =>
    fail(new GuestImageError('GUEST_VSCARD_PEER', 'VSCard connection closed')),
  );

  const expectOk = async (msg: VscardMessage): Promise<void> => {
    const code = await control(msg);
    if (code !== 0)
      throw new GuestImageError(
        'GUEST_VSCARD_PEER',
        `QEMU refused ${msg.type} (VSC_Error ${code})`,
      );
  };

  const insertCard = async (next?: SimpleCard): Promise<void> => {
    if (next) card = next;
    card.reset?.();
    await expectOk({ type: 'ATR', readerId: VSC_MINIMAL_READER_ID, atr: card.atr });
  };
  try {
    send({
      type: 'Init',
      readerId: VSC_MINIMAL_READER_ID,
      magic: new TextEncoder().encode('VSCD'),
      version: 2,
      capabilities: [0],
    });
    await expectOk({
      type: 'ReaderAdd',
      readerId: VSC_MINIMAL_READER_ID,
      name: opts.readerName ?? 'cardlend direct card',
    });
    if (opts.isInsertedAtStart !== false) await insertCard();
  } catch (e) {
    // Leave QEMU's stream on a message boundary and free the connection for the next client (§5).
    socket.destroy();
    throw e;
  }

  return {
    exchanges,
    get firstApduAtMs() {
      return firstApduAtMs;
    },
    insertCard,
    removeCard: () => expectOk({ type: 'CardRemove', readerId: VSC_MINIMAL_READER_ID }),
    async close() {
      if (!failure) {
        await expectOk({ type: 'CardRemove', readerId: VSC_MINIMAL_READER_ID });
        await expectOk({ type: 'ReaderRemove', readerId: VSC_MINIMAL_READER_ID });
      }
      await new Promise<void>((resolve) => {
        if (socket.destroyed) resolve();
        else socket.end(() => resolve());
      });
      socket.destroy();
    },
    destroy() {
      socket.destroy();
    },
  };
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
