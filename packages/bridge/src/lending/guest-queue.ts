/**
 * The guest commands waiting for the card, one served at a time, with the long-answer buffer
 * (long-answer.ts) in front of the card and the APDU log entry of each. Pure: the machine
 * asks what to do with the next command and reports the card's answers.
 */
import { createLogEntry } from '../apdu-log.ts';
import type { ApduAnswerSource, ApduLogEntry } from '../apdu-log.ts';
import type { BridgeErrorCode } from '../errors.ts';
import { VSCARD_MAX_GUEST_ANSWER_BYTES } from '@cardlend/vscard';
import { LongAnswerSplitter } from '../long-answer.ts';

/**
 * Most guest commands waiting for the card. QEMU keeps at most 128 outstanding (its 129th
 * aborts the VM, vscard-protocol.md §4), so a peer sending more is not a QEMU.
 */
export const MAX_QUEUED_GUEST_COMMANDS = 256;

/** 6F00, ISO 7816-4 §5.6 "no precise diagnosis": the answer when the card cannot answer. */
export const SW_NO_PRECISE_DIAGNOSIS = Uint8Array.of(0x6f, 0x00);

/** A guest command of the VSCard session on connection `socket`. */
export interface GuestCommand {
  socket: number;
  /** The session's id for `answerApdu`. */
  id: number;
  apdu: Uint8Array;
  /** Arrival, bridge clock. */
  atMs: number;
}

/** An answer the bridge gives without the card. */
export interface BridgeAnswer {
  answer: Uint8Array;
  answeredBy: ApduAnswerSource;
  errorCode?: BridgeErrorCode;
}

/** FIFO of guest commands plus the long-answer buffer; see the module comment. */
export class GuestQueue {
  #splitter: LongAnswerSplitter;
  /** The relay splits long answers (long-answers contract): card chains are collected here. */
  #isRelaySplitting = false;
  readonly #items: GuestCommand[] = [];
  #logId = 0;

  constructor(maxAnswerBytes: number) {
    this.#splitter = new LongAnswerSplitter({ maxAnswerBytes });
  }

  get isFull(): boolean {
    return this.#items.length >= MAX_QUEUED_GUEST_COMMANDS;
  }

  push(command: GuestCommand): void {
    this.#items.push(command);
  }

  shift(): GuestCommand | undefined {
    return this.#items.shift();
  }

  /** Takes every waiting command out (their connection is gone). */
  drain(): GuestCommand[] {
    return this.#items.splice(0);
  }

  /**
   * A new connection: answers up to `maxAnswerBytes` go to the VM whole (374 when this bridge
   * splits, 65 524 when the relay does); forgets the long-answer buffer.
   */
  useAnswerLimit(maxAnswerBytes: number): void {
    this.#splitter.reset();
    this.#splitter = new LongAnswerSplitter({ maxAnswerBytes });
    this.#isRelaySplitting = maxAnswerBytes > VSCARD_MAX_GUEST_ANSWER_BYTES;
  }

  /**
   * Whether to collect a card's own `61xx` chain with GET RESPONSE before answering (only when
   * the relay splits: it then serves the guest's GET RESPONSEs next to QEMU, issue 11 §3).
   */
  get isCollectingChains(): boolean {
    return this.#isRelaySplitting;
  }

  /** Forgets the long-answer buffer (card changed, new connection). */
  resetBuffer(): void {
    this.#splitter.reset();
  }

  /**
   * What to answer `command` with without the card: from the long-answer buffer, or 6F00
   * when `unavailable` names why the card cannot answer; `null` = send it to the card.
   */
  answerWithoutCard(
    command: GuestCommand,
    unavailable: BridgeErrorCode | null,
  ): BridgeAnswer | null {
    const decision = this.#splitter.handleCommand(command.apdu);
    if (decision.kind === 'serve') return { answer: decision.answer, answeredBy: 'bridge-buffer' };
    if (unavailable === null) return null;
    return failedAnswer(unavailable);
  }

  /** The card's answer as sent to the VM: whole, or its first 61xx piece (the rest is buffered). */
  cardAnswer(response: Uint8Array): Uint8Array {
    return this.#splitter.handleAnswer(response);
  }

  /**
   * The log entry of an answered (or, with `response` null, unanswered) command; wipes PIN
   * bytes from the command afterwards.
   */
  logEntry(
    command: GuestCommand,
    answer:
      BridgeAnswer | { answer: null; answeredBy: ApduAnswerSource; errorCode?: BridgeErrorCode },
    nowMs: number,
  ): ApduLogEntry {
    const input: Parameters<typeof createLogEntry>[0] = {
      id: ++this.#logId,
      atMs: command.atMs,
      command: command.apdu,
      response: answer.answer,
      latencyMs: nowMs - command.atMs,
      answeredBy: answer.answeredBy,
    };
    if (answer.errorCode !== undefined) input.errorCode = answer.errorCode;
    const entry = createLogEntry(input);
    // PIN bytes do not linger in memory (`isRedacted`: describeApdu found the command sensitive).
    if (entry.isRedacted) command.apdu.fill(0);
    return entry;
  }
}

/** 6F00 in the card's place, for `code`. */
export function failedAnswer(code: BridgeErrorCode): BridgeAnswer {
  return { answer: SW_NO_PRECISE_DIAGNOSIS.slice(), answeredBy: 'bridge-error', errorCode: code };
}
