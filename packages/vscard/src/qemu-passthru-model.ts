/**
 * A pure model of QEMU's `ccid-card-passthru` + `usb-ccid` as a VSCard host (vscard-protocol.md
 * §3–§5): its input reader ({@link QemuInputBuffer}), what it does with each message, and the
 * FIFO of guest commands waiting for an answer. Used to predict real QEMU (tests compare the
 * registers with QEMU 7.2's and 10.0's saved device state) and to prove the relay's
 * {@link ForwardGuard} over random schedules.
 *
 * Per handled message (§3): Init → QEMU's Init; ReaderAdd → Error 0 (reader_id 0); ATR → Error 1
 * if refused (§3.1), else Error 0, card present, waiting guest commands answered empty;
 * CardRemove → Error 0, card gone, waiting commands answered empty; ReaderRemove → Error 0, card
 * gone, waiting commands dropped; APDU / Error → answer to the oldest waiting command (dropped if
 * none; an APDU answer over 374 bytes is lost on the way to the guest, §4); any other type →
 * Error 1. Replies echo the request's reader_id except ReaderAdd's.
 */
import { qemu72AcceptsAtr } from './atr.ts';
import { encodeMessage, type VscardMessage } from './codec.ts';
import {
  VSC,
  VSC_ERROR_CODE,
  VSC_UNDEFINED_READER_ID,
  VSCARD_MAX_GUEST_ANSWER_BYTES,
  VSCARD_MAX_GUEST_COMMAND_BYTES,
  VSCARD_VERSION,
  VSCARD_MAGIC,
} from './constants.ts';
import { QemuInputBuffer, type QemuInputMessage } from './qemu-input-model.ts';

/** `PENDING_ANSWERS_NUM` in `usb-ccid`: one more waiting guest command aborts QEMU (g10). */
export const QEMU_MAX_PENDING_GUEST_COMMANDS = 128;

/** What the guest gets for one of its commands. */
export type GuestAnswer =
  | { kind: 'data'; bytes: Uint8Array }
  /** Empty DataBlock: flushed by ATR/CardRemove. */
  | { kind: 'empty' }
  /** Empty DataBlock flagged failed: the client sent VSC_Error. */
  | { kind: 'failed' }
  /** Never answered: longer than 374 bytes (discarded) or dropped by ReaderRemove. */
  | { kind: 'lost' };

/** Something QEMU did while handling a read. */
export type QemuEffect =
  /** QEMU wrote this message to the client (an Init or an Error acknowledgement). */
  | { kind: 'reply'; message: VscardMessage; bytes: Uint8Array }
  /** Guest command `id` got its answer. */
  | { kind: 'guest-answer'; id: number; answer: GuestAnswer }
  /** An answer arrived with no guest command waiting: QEMU dropped it. */
  | { kind: 'answer-dropped'; type: number };

/** Result of {@link QemuPassthruModel.guestCommand}. */
export type GuestCommandResult =
  /** QEMU wrote it to the client as VSC_APDU (`bytes`) and waits for the answer. */
  | { kind: 'forwarded'; id: number; bytes: Uint8Array }
  /** No card present: QEMU answered the guest itself with an empty DataBlock (g03). */
  | { kind: 'answered-by-qemu' }
  /** The 129th waiting command: QEMU aborts on an assertion, the VM dies (g10). */
  | { kind: 'abort' };

/** QEMU's replies, encoded as QEMU sends them (Error code big-endian, §2.5). */
function reply(message: VscardMessage): QemuEffect {
  return { kind: 'reply', message, bytes: encodeMessage(message, { errorCodeByteOrder: 'be' }) };
}

/** The device: input reader + card state + waiting guest commands. */
export class QemuPassthruModel {
  readonly input = new QemuInputBuffer();
  #isCardPresent = false;
  #pending: number[] = [];
  #nextId = 1;

  /** Whether QEMU shows a card to the guest. */
  get isCardPresent(): boolean {
    return this.#isCardPresent;
  }

  /** Ids of guest commands waiting for an answer, oldest first. */
  get pendingGuestCommands(): readonly number[] {
    return this.#pending;
  }

  /** One chardev read (see {@link QemuInputBuffer.read}); returns what QEMU did, in order. */
  read(chunk: Uint8Array): QemuEffect[] {
    const out: QemuEffect[] = [];
    for (const m of this.input.read(chunk)) this.#handle(m, out);
    return out;
  }

  /**
   * The guest sends one command (an XfrBlock to a powered card). Forwarded only while a card is
   * present; longer than 65 526 bytes cannot leave usb-ccid (its bulk-out buffer).
   */
  guestCommand(apdu: Uint8Array): GuestCommandResult {
    if (apdu.length > VSCARD_MAX_GUEST_COMMAND_BYTES) {
      throw new RangeError(`guest command of ${apdu.length} bytes cannot be sent`);
    }
    if (!this.#isCardPresent) return { kind: 'answered-by-qemu' };
    if (this.#pending.length >= QEMU_MAX_PENDING_GUEST_COMMANDS) return { kind: 'abort' };
    const id = this.#nextId++;
    this.#pending.push(id);
    const bytes = encodeMessage(
      { type: 'APDU', readerId: 0, apdu },
      { maxPayloadBytes: VSCARD_MAX_GUEST_COMMAND_BYTES },
    );
    return { kind: 'forwarded', id, bytes };
  }

  #handle(m: QemuInputMessage, out: QemuEffect[]): void {
    const ack = (code: number, readerId = m.readerId): void => {
      out.push(reply({ type: 'Error', readerId, code }));
    };
    switch (m.type) {
      case VSC.Init:
        out.push(
          reply({
            type: 'Init',
            readerId: VSC_UNDEFINED_READER_ID,
            magic: VSCARD_MAGIC.slice(),
            version: VSCARD_VERSION,
            capabilities: [0],
          }),
        );
        return;
      case VSC.ReaderAdd:
        ack(VSC_ERROR_CODE.VSC_SUCCESS, 0);
        return;
      case VSC.ATR:
        if (!qemu72AcceptsAtr(m.payload).ok) {
          ack(VSC_ERROR_CODE.VSC_GENERAL_ERROR);
          return;
        }
        this.#flush('empty', out);
        this.#isCardPresent = true;
        ack(VSC_ERROR_CODE.VSC_SUCCESS);
        return;
      case VSC.CardRemove:
        this.#flush('empty', out);
        this.#isCardPresent = false;
        ack(VSC_ERROR_CODE.VSC_SUCCESS);
        return;
      case VSC.ReaderRemove:
        this.#flush('lost', out);
        this.#isCardPresent = false;
        ack(VSC_ERROR_CODE.VSC_SUCCESS);
        return;
      case VSC.APDU:
      case VSC.Error:
        this.#answer(m, out);
        return;
      default:
        ack(VSC_ERROR_CODE.VSC_GENERAL_ERROR);
    }
  }

  #answer(m: QemuInputMessage, out: QemuEffect[]): void {
    const id = this.#pending.shift();
    if (id === undefined) {
      out.push({ kind: 'answer-dropped', type: m.type });
      return;
    }
    let answer: GuestAnswer;
    if (m.type === VSC.Error) answer = { kind: 'failed' };
    else if (m.length > VSCARD_MAX_GUEST_ANSWER_BYTES) answer = { kind: 'lost' };
    else answer = { kind: 'data', bytes: m.payload };
    out.push({ kind: 'guest-answer', id, answer });
  }

  #flush(kind: 'empty' | 'lost', out: QemuEffect[]): void {
    for (const id of this.#pending) out.push({ kind: 'guest-answer', id, answer: { kind } });
    this.#pending = [];
  }
}
