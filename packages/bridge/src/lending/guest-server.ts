/**
 * Serves guest commands one at a time: from the long-answer buffer, from the card (a
 * `transmit` reader call), or with 6F00 when the card cannot answer, and always answers in
 * the VSCard session the command came from, if it is still there (vscard-protocol.md §6
 * rules 4 and 5). Every command gets one APDU log entry.
 */
import { ChainCollector } from '@cardlend/vscard';
import { BridgeError, bridgeErrorFromReader, isReaderLost, toErrorInfo } from '../errors.ts';
import type { CardTrack } from './card-track.ts';
import type { Connection, MachineCore } from './core.ts';
import { failedAnswer, MAX_QUEUED_GUEST_COMMANDS } from './guest-queue.ts';
import type { BridgeAnswer, GuestCommand } from './guest-queue.ts';
import type { ReaderResult } from './types.ts';

/** See the module comment. */
export class GuestServer {
  readonly #core: MachineCore;
  readonly #card: CardTrack;
  /** A command is being served (possibly waiting for the card). */
  #isPumping = false;

  constructor(core: MachineCore, card: CardTrack) {
    this.#core = core;
    this.#card = card;
  }

  /** A guest command from `conn`'s session (an `apdu` session action). */
  push(conn: Connection, id: number, apdu: Uint8Array): void {
    const core = this.#core;
    if (core.queue.isFull) {
      // QEMU never has more than 128 commands outstanding (§4, g10): this is not a VM.
      core.failConnection(
        conn,
        new BridgeError('BRIDGE_RELAY_PROTOCOL', {
          message: `More than ${MAX_QUEUED_GUEST_COMMANDS} guest commands were waiting.`,
        }),
      );
      return;
    }
    core.queue.push({ socket: conn.socket, id, apdu, atMs: core.nowMs });
    this.#pump();
  }

  /** Logs a command whose connection closed before it was answered. */
  logUnanswered(command: GuestCommand): void {
    const entry = this.#core.queue.logEntry(
      command,
      { answer: null, answeredBy: 'bridge-error', errorCode: 'BRIDGE_CONNECTION_LOST' },
      this.#core.nowMs,
    );
    this.#core.emit({ type: 'apdu-log', entry });
  }

  #pump(): void {
    if (this.#isPumping) return;
    this.#isPumping = true;
    const { queue } = this.#core;
    for (let command = queue.shift(); command !== undefined; command = queue.shift()) {
      if (this.#serve(command)) return; // the card's answer resumes the pump
    }
    this.#isPumping = false;
  }

  /** Serves `command`; true when it went to the card (answer pending). */
  #serve(command: GuestCommand): boolean {
    if (this.#sessionOf(command) === null) {
      this.logUnanswered(command);
      return false;
    }
    const direct = this.#core.queue.answerWithoutCard(command, this.#card.unavailable);
    if (direct !== null) {
      this.#answer(command, direct);
      return false;
    }
    const chain = new ChainCollector(command.apdu, this.#core.queue.isCollectingChains);
    this.#transmit(command, chain, command.apdu);
    return true;
  }

  /** One transmit of `command`'s exchange (the command, or a GET RESPONSE of its chain). */
  #transmit(command: GuestCommand, chain: ChainCollector, apdu: Uint8Array): void {
    const generation = this.#card.generation;
    this.#core.callReader({ kind: 'transmit', apdu }, (result) => {
      const isSameCard = generation === this.#card.generation;
      if (result.ok && result.value instanceof Uint8Array && isSameCard) {
        const next = chain.add(result.value);
        if (next !== null) {
          this.#transmit(command, chain, next);
          return;
        }
        const whole = chain.answer(); // the card's own answer when there was no chain
        if (whole !== result.value) result = { ok: true, value: whole };
      }
      this.#answer(command, this.#fromCard(generation, result));
      this.#isPumping = false;
      this.#pump();
    });
  }

  /** The answer to send for the card's `result` to a command sent while the card was `generation`. */
  #fromCard(generation: number, result: ReaderResult): BridgeAnswer {
    const core = this.#core;
    if (result.ok && result.value instanceof Uint8Array) {
      // An answer from a card that has changed since belongs to no one (§6 rule 5).
      if (generation !== this.#card.generation) return failedAnswer('BRIDGE_CARD_ABSENT');
      return { answer: core.queue.cardAnswer(result.value), answeredBy: 'card' };
    }
    const err = bridgeErrorFromReader(
      result.ok ? new TypeError('transmit resolved with something other than bytes') : result.error,
    );
    core.log('warn', 'transmit failed', { code: err.code });
    if (isReaderLost(err.code)) {
      this.#card.readerGone(err.code);
    } else if (
      (err.code === 'BRIDGE_CARD_MUTE' ||
        err.code === 'BRIDGE_CARD_PROTOCOL' ||
        err.code === 'BRIDGE_READER_TIMEOUT') &&
      !core.isDone
    ) {
      core.setState({ error: toErrorInfo(err) });
    }
    return failedAnswer(err.code);
  }

  /** Sends `answer` in the command's session if it is still the current one, and logs it. */
  #answer(command: GuestCommand, answer: BridgeAnswer): void {
    const core = this.#core;
    const conn = this.#sessionOf(command);
    if (conn !== null) core.run(conn, (s, now) => s.answerApdu(command.id, answer.answer, now));
    const logged = conn === null ? { ...answer, answer: null } : answer;
    core.emit({ type: 'apdu-log', entry: core.queue.logEntry(command, logged, core.nowMs) });
  }

  /** The current connection if `command` came from its session, else null. */
  #sessionOf(command: GuestCommand): Connection | null {
    const conn = this.#core.conn;
    return conn !== null && conn.session !== null && conn.socket === command.socket ? conn : null;
  }
}
