/**
 * A simulated card plugged into the test pcscd's vpcd reader that timestamps every command
 * frame: when its first byte arrived and when it was complete (hrtime, µs). vpcd writes a
 * frame's 2-byte length and its APDU in two send() calls without TCP_NODELAY, so the APDU
 * often waits for this side's delayed ACK (~40 ms on Linux); the benchmark subtracts that
 * wait (complete − first byte) to compare the paths without the test reader's artefact.
 */
import type { Socket } from 'node:net';
import type { VirtualCard } from '@cardlend/card-sim';
import { connectInNamespace, encodeVpcdFrame } from '@cardlend/pcsc/testing';

/** vpcd control codes (a 1-byte frame). */
const CTRL_ATR = 4;

export class TimedCard {
  /** Arrival of the last command's first byte and its completion, µs (hrtime). */
  lastFirstByteUs = 0;
  lastCompleteUs = 0;
  /** When the card wrote its answer to the last command, µs (hrtime). */
  lastAnsweredUs = 0;
  readonly #socket: Socket;
  readonly #card: VirtualCard;
  #buffer = Buffer.alloc(0);
  #frameStartUs: number | null = null;

  private constructor(socket: Socket, card: VirtualCard) {
    this.#socket = socket;
    this.#card = card;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', () => undefined);
    socket.resume();
  }

  /** Plugs `card` into vpcd's `port` inside the network namespace of pcscd `pid`. */
  static async plug(pid: number, port: number, card: VirtualCard): Promise<TimedCard> {
    return new TimedCard(await connectInNamespace(pid, '127.0.0.1', port), card);
  }

  /** The delayed-ACK wait of the last command, µs. */
  get lastWaitUs(): number {
    return this.lastCompleteUs - this.lastFirstByteUs;
  }

  remove(): void {
    this.#socket.destroy();
  }

  #onData(chunk: Buffer): void {
    const now = Number(process.hrtime.bigint()) / 1000;
    if (this.#frameStartUs === null) this.#frameStartUs = now;
    this.#buffer = Buffer.concat([this.#buffer, chunk]);
    while (this.#buffer.length >= 2) {
      const len = this.#buffer.readUInt16BE(0);
      if (this.#buffer.length < 2 + len) return;
      const payload = new Uint8Array(this.#buffer.subarray(2, 2 + len));
      this.#buffer = this.#buffer.subarray(2 + len);
      const started = this.#frameStartUs ?? now;
      this.#frameStartUs = this.#buffer.length > 0 ? now : null;
      if (len === 1) {
        if (payload[0] === CTRL_ATR) this.#socket.write(encodeVpcdFrame(this.#card.atr));
        continue;
      }
      this.lastFirstByteUs = started;
      this.lastCompleteUs = now;
      void Promise.resolve(this.#card.process(payload)).then((answer) => {
        this.lastAnsweredUs = Number(process.hrtime.bigint()) / 1000;
        this.#socket.write(encodeVpcdFrame(answer));
      });
    }
  }
}
