/**
 * The VM side of a relay session: the TCP connection to QEMU's chardev and its lifecycle as
 * one union, {@link VmPhase}, whose phases own their timers (entering the next phase clears
 * the one left). While `open` the session relays (session/relay-session.ts); once the browser
 * is gone this module runs the cleanup QEMU needs (vscard-protocol.md §4, §5, §6 rules 7–8):
 * every outstanding guest command answered with VSC_Error, a grace for the guest to read those
 * answers, CardRemove + ReaderRemove with their acks awaited (bounded), then a FIN and QEMU's
 * close awaited (bounded).
 */
import type { Socket } from 'node:net';
import { VSC } from '@cardlend/vscard';
import { CARD_REMOVE, GUEST_COMMAND_ERROR, READER_REMOVE } from '../vm-messages.ts';
import type { SessionTimers, TimerHandle } from './timers.ts';

/**
 * `open`: relaying (with the slow-reader timer while reading the VM is paused). Cleanup:
 * `grace` (VSC_Error answers sent; CardRemove when the timer fires), `acks` (CardRemove +
 * ReaderRemove sent; FIN when both are acked or at the timeout), `fin` (FIN sent; the socket
 * is destroyed if QEMU has not closed it by the timeout). `closed`: nothing more goes to the VM.
 */
export type VmPhase =
  | { readonly name: 'open'; readonly slowReader: TimerHandle | undefined }
  | { readonly name: 'grace'; readonly timer: TimerHandle }
  | { readonly name: 'acks'; readonly timer: TimerHandle }
  | { readonly name: 'fin'; readonly timer: TimerHandle }
  | { readonly name: 'closed' };

/**
 * Time the guest gets to fetch the failed answers before CardRemove, ms. QEMU's usb-ccid
 * queues an answer in its bulk-in buffer until the guest's driver reads it, and CardRemove
 * (like ReaderRemove) resets the device state, clearing that buffer (`ccid_card_card_removed`
 * → `ccid_reset` → `ccid_bulk_in_clear`). An Error answer followed at once by CardRemove is
 * therefore lost whenever the guest had not yet posted its read, and the guest's driver then
 * waits out its own timeout (minutes with libccid). Seen with a loaded host: QEMU read all
 * three messages in one go.
 */
export const GUEST_ANSWER_GRACE_MS = 500;

const EXPECTING_REPLY: ReadonlySet<number> = new Set([
  VSC.Init,
  VSC.ReaderAdd,
  VSC.ReaderRemove,
  VSC.ATR,
  VSC.CardRemove,
]);

/** Whether QEMU answers a client message of `type` (Init with Init, the others with Error; §3). */
export function expectsReply(type: number): boolean {
  return EXPECTING_REPLY.has(type);
}

/** Bounds of the cleanup, ms. */
export interface CleanupBounds {
  /** After the VSC_Error answers, before CardRemove (0: at once). */
  readonly guestAnswerGraceMs: number;
  /** Longest wait for QEMU's acks of CardRemove and ReaderRemove. */
  readonly cleanupAckTimeoutMs: number;
  /** Longest wait for QEMU's close after the FIN. */
  readonly tcpCloseTimeoutMs: number;
}

let lastBounds: CleanupBounds | undefined;

/**
 * The bounds of `opts` (defaults: {@link GUEST_ANSWER_GRACE_MS}, 1000, 1000 ms) as one frozen
 * object shared by the sessions with the same ones (all of a server's): an idle session keeps
 * no copy of its own.
 */
export function cleanupBounds(opts: Partial<CleanupBounds>): CleanupBounds {
  const guestAnswerGraceMs = opts.guestAnswerGraceMs ?? GUEST_ANSWER_GRACE_MS;
  const cleanupAckTimeoutMs = opts.cleanupAckTimeoutMs ?? 1000;
  const tcpCloseTimeoutMs = opts.tcpCloseTimeoutMs ?? 1000;
  const last = lastBounds;
  if (
    last?.guestAnswerGraceMs === guestAnswerGraceMs &&
    last.cleanupAckTimeoutMs === cleanupAckTimeoutMs &&
    last.tcpCloseTimeoutMs === tcpCloseTimeoutMs
  )
    return last;
  lastBounds = Object.freeze({ guestAnswerGraceMs, cleanupAckTimeoutMs, tcpCloseTimeoutMs });
  return lastBounds;
}

/** What writes the messages the relay itself sends to QEMU (session/policy-gate.ts). */
export interface RelayWriter {
  /** Writes `bytes` (the session's frame policy may veto them or add a probe); true if written. */
  writeFromRelay(bytes: Uint8Array): boolean;
}

/** `open` without the slow-reader timer: one object for every idle session. */
const OPEN: VmPhase = Object.freeze({ name: 'open', slowReader: undefined });

export class VmLink {
  readonly tcp: Socket;
  /** How the cleanup writes its messages (a frame policy's say); default: straight to the socket. */
  relayWriter: RelayWriter | undefined;
  readonly #timers: SessionTimers;
  readonly #bounds: CleanupBounds;
  #phase: VmPhase = OPEN;
  /** Control messages sent (by the browser or the cleanup) whose reply QEMU still owes. */
  pendingReplies = 0;
  /** The TCP connection has not closed yet. */
  isConnected = true;
  /** Guest commands answered with VSC_Error by the cleanup. */
  answeredOnCleanup = 0;
  /** QEMU acked CardRemove and ReaderRemove before the FIN. */
  isCleanupAcked = false;

  constructor(tcp: Socket, timers: SessionTimers, bounds: CleanupBounds) {
    this.tcp = tcp;
    this.#timers = timers;
    this.#bounds = bounds;
  }

  get phase(): VmPhase['name'] {
    return this.#phase.name;
  }

  /** Moves to `next`, clearing the timer of the phase left. */
  #enter(next: VmPhase): void {
    const left = this.#phase;
    if (left.name === 'open') {
      if (left.slowReader !== undefined) this.#timers.clear(left.slowReader);
    } else if (left.name !== 'closed') {
      this.#timers.clear(left.timer);
    }
    this.#phase = next;
  }

  /** While open: `expire(arg)` runs unless {@link disarmSlowReader} comes first. */
  armSlowReader<A>(expire: (arg: A) => void, ms: number, arg: A): void {
    const phase = this.#phase;
    if (phase.name !== 'open' || phase.slowReader !== undefined) return;
    this.#phase = { name: 'open', slowReader: this.#timers.set(expire, ms, arg) };
  }

  disarmSlowReader(): void {
    const phase = this.#phase;
    if (phase.name !== 'open' || phase.slowReader === undefined) return;
    this.#timers.clear(phase.slowReader);
    this.#phase = OPEN;
  }

  /**
   * Starts the cleanup (from `open` only): `answered` guest commands get VSC_Error, then —
   * after the grace, when there were some — CardRemove + ReaderRemove. With
   * `isWaitingForAcks` false (QEMU sent garbage) nothing is awaited: removals, then FIN.
   */
  startCleanup(answered: number, isWaitingForAcks: boolean): void {
    if (this.#phase.name !== 'open') return;
    const tcp = this.tcp;
    if (tcp.isPaused()) tcp.resume();
    if (tcp.destroyed || !tcp.writable) {
      this.isConnected = false;
      this.#enter({ name: 'closed' });
      return;
    }
    this.answeredOnCleanup = answered;
    for (let i = 0; i < answered; i++) this.#write(GUEST_COMMAND_ERROR);
    if (!isWaitingForAcks) {
      this.#sendRemovals();
      this.#finish(false);
    } else if (answered > 0 && this.#bounds.guestAnswerGraceMs > 0) {
      const timer = this.#timers.set(VmLink.#graceOver, this.#bounds.guestAnswerGraceMs, this);
      this.#enter({ name: 'grace', timer });
    } else {
      this.#removeCard();
    }
  }

  /**
   * While open (the session is parked after a browser drop, issue 14 §1): answers `count`
   * guest commands with VSC_Error so the guest never waits; the card stays.
   */
  answerGuestCommands(count: number): void {
    if (this.#phase.name !== 'open' || this.tcp.destroyed || !this.tcp.writable) return;
    for (let i = 0; i < count; i++) this.#write(GUEST_COMMAND_ERROR);
  }

  #write(bytes: Uint8Array): boolean {
    if (this.relayWriter) return this.relayWriter.writeFromRelay(bytes);
    this.tcp.write(bytes);
    return true;
  }

  static #graceOver(link: VmLink): void {
    link.#removeCard();
  }

  static #acksTimeout(link: VmLink): void {
    link.#finish(false);
  }

  static #finTimeout(link: VmLink): void {
    link.tcp.destroy();
  }

  #removeCard(): void {
    if (this.tcp.destroyed || !this.tcp.writable) {
      // Its 'close' follows (or came): nothing more can be sent.
      this.#enter({ name: 'closed' });
      return;
    }
    this.#sendRemovals();
    const timer = this.#timers.set(VmLink.#acksTimeout, this.#bounds.cleanupAckTimeoutMs, this);
    this.#enter({ name: 'acks', timer });
  }

  #sendRemovals(): void {
    if (this.tcp.destroyed || !this.tcp.writable) return;
    for (const removal of [CARD_REMOVE, READER_REMOVE])
      if (this.#write(removal)) this.pendingReplies++;
  }

  #finish(isAcked: boolean): void {
    this.isCleanupAcked = isAcked;
    // FIN after every queued write; keep reading until QEMU closes (an RST caused by unread
    // data could cut a message and leave a partial one in QEMU's buffer, §5).
    this.tcp.end();
    const timer = this.#timers.set(VmLink.#finTimeout, this.#bounds.tcpCloseTimeoutMs, this);
    this.#enter({ name: 'fin', timer });
  }

  /** A reply (Error or Init) arrived: during `acks`, the last one ends the wait. */
  noteReply(): void {
    if (this.pendingReplies > 0) this.pendingReplies--;
    if (this.#phase.name === 'acks' && this.pendingReplies === 0) this.#finish(true);
  }

  /** QEMU sent bytes that are not VSCard during the cleanup: nothing more is awaited. */
  onGarbageDuringCleanup(): void {
    if (this.#phase.name === 'grace' || this.#phase.name === 'acks') this.#finish(false);
  }

  /** QEMU's side ended or failed: the link closes for good. */
  drop(): void {
    if (this.#phase.name === 'closed') return;
    this.#enter({ name: 'closed' });
    this.tcp.destroy();
  }

  /** The socket closed. */
  onClosed(): void {
    this.isConnected = false;
    if (this.#phase.name !== 'open') this.#enter({ name: 'closed' });
  }
}
