/**
 * The card in the lent slot, as the machine tracks it: probing and powering it through
 * reader calls, reader events, and keeping the VM's view of it in line
 * (vscard-protocol.md §6 rules 6 and 7). Every change of card bumps `generation`, so an
 * answer or ATR that belongs to an earlier card is recognised and dropped. A power on that
 * failed in a way that may heal is tried again after a wait (power-retry.ts).
 */
import type { ReaderEvent } from '@cardlend/ccid';
import {
  BRIDGE_ERRORS,
  BridgeError,
  bridgeErrorFromReader,
  isReaderLost,
  toErrorInfo,
} from '../errors.ts';
import type { BridgeErrorCode } from '../errors.ts';
import { asPoweredResult, errorAfterCardGone, errorAfterNewCard, poweredCard } from './card.ts';
import type { MachineCore } from './core.ts';
import { PowerOnRetries } from './power-retry.ts';
import type { ReaderResult } from './types.ts';

/** See the module comment. */
export class CardTrack {
  readonly #core: MachineCore;
  /** Reader calls in progress that may find a card (slot status, power on). */
  #probes = 0;
  #generation = 0;
  #isReaderGone = false;
  readonly #retries: PowerOnRetries;

  constructor(core: MachineCore) {
    this.#core = core;
    this.#retries = new PowerOnRetries(core);
  }

  /** Bumped at every change of card (and when lending stops). */
  get generation(): number {
    return this.#generation;
  }

  /** Why the card cannot answer a guest command now, or `null` when it can. */
  get unavailable(): BridgeErrorCode | null {
    if (this.#isReaderGone) return 'BRIDGE_READER_GONE';
    return this.#core.state.card === null ? 'BRIDGE_CARD_ABSENT' : null;
  }

  /** A powered card on a reader still there. */
  get canPowerOff(): boolean {
    return !this.#isReaderGone && this.#core.state.card !== null;
  }

  /** Lending ends: answers still in flight belong to no one. */
  forget(): void {
    this.#generation++;
  }

  /** At start: is there a card? If so, power it on. */
  probe(): void {
    this.#probes++;
    this.#core.callReader({ kind: 'slot-status' }, (result) => {
      this.#probes--;
      if (!result.ok) this.readerFailed(bridgeErrorFromReader(result.error));
      else if (result.value !== 'absent' && this.#core.isRunning) this.#powerOnNewCard();
      this.syncVm();
    });
  }

  /** Powers the card off at the end of lending; tells the machine when done. */
  powerOff(): void {
    this.#core.callReader({ kind: 'power-off' }, (result) => {
      if (!result.ok) {
        this.#core.log('warn', 'power off after stop failed', { error: String(result.error) });
      }
      this.#core.poweredOff();
    });
  }

  onReaderEvent(e: ReaderEvent): void {
    if (e.type === 'reader-gone') {
      this.readerGone('BRIDGE_READER_GONE');
      return;
    }
    if (e.slot !== this.#core.slot) return;
    switch (e.type) {
      case 'card-inserted':
        if (this.#core.isRunning) this.#powerOnNewCard();
        return;
      case 'card-removed':
        this.cardGone(null);
        return;
      case 'hardware-error':
        this.cardGone(
          new BridgeError('BRIDGE_READER_ERROR', {
            message: `${BRIDGE_ERRORS.BRIDGE_READER_ERROR} (code ${e.code})`,
          }),
        );
        return;
    }
  }

  /** A reader call failed with `err` outside a guest command. */
  readerFailed(err: BridgeError): void {
    if (isReaderLost(err.code)) this.readerGone(err.code);
    else if (!this.#core.isDone) this.#core.setState({ error: toErrorInfo(err) });
  }

  /** The reader is unusable for good (unplugged, or its handle closed). */
  readerGone(code: 'BRIDGE_READER_GONE' | 'BRIDGE_READER_CLOSED'): void {
    if (this.#isReaderGone) return;
    this.#isReaderGone = true;
    this.#generation++;
    this.#retries.cancel();
    this.#core.readerLost(code);
  }

  /**
   * Makes the VM's view of the card match the reader once the reader is announced: the ATR
   * of a powered card, or a CardRemove when there is none — QEMU may still show a card from
   * before a reconnect or from an earlier session (§6 rule 7). Waits while a slot status or
   * power on is in progress, so a present card is not first removed.
   */
  syncVm(): void {
    const conn = this.#core.conn;
    if (conn === null || conn.session === null || !conn.isReaderAnnounced) return;
    if (!this.#core.isRunning) return;
    const card = this.#core.state.card;
    if (card !== null) {
      if (conn.vmCard === 'announced' || card.vmStatus === 'refused') return;
      conn.vmCard = 'announced';
      this.#core.setState({ card: { ...card, vmStatus: 'pending' } });
      this.#core.run(conn, (s, now) => s.insertCard(card.presentedAtr, now));
      return;
    }
    if (this.#probes > 0 || conn.vmCard !== 'unknown') return;
    conn.vmCard = 'cleared';
    this.#core.run(conn, (s, now) => s.removeCard(now));
  }

  /** The `power-on` timer fired: the pending retry, if still due, powers the card on again. */
  retryPowerOn(): void {
    if (this.#retries.fire(this.#generation)) this.#powerOn();
  }

  /** Lending stops or ends: a pending power-on retry is cancelled. */
  stopRetrying(): void {
    this.#retries.cancel();
  }

  /** The card left (pulled, or a hardware error): tell the VM. */
  cardGone(error: BridgeError | null): void {
    this.#generation++;
    const core = this.#core;
    core.queue.resetBuffer();
    const conn = core.conn;
    const wasAnnounced = conn?.vmCard === 'announced';
    if (conn !== null && wasAnnounced) conn.vmCard = 'unknown';
    const { state } = core;
    const isAtrRefused = state.error?.code === 'BRIDGE_ATR_REFUSED';
    core.setState({
      card: null,
      link: state.link === 'refused' && isAtrRefused ? 'lent' : state.link,
      error: errorAfterCardGone(state.error, error === null ? null : toErrorInfo(error)),
      powerOnRetry: undefined,
    });
    this.#retries.cancel();
    if (conn !== null && conn.session !== null && wasAnnounced && core.isRunning) {
      conn.vmCard = 'cleared';
      core.run(conn, (s, now) => s.removeCard(now));
    }
  }

  /** The first power on of a card (found at start, or inserted): retries start afresh. */
  #powerOnNewCard(): void {
    this.#retries.fresh();
    this.#powerOn();
  }

  #powerOn(): void {
    this.#probes++;
    const generation = ++this.#generation;
    this.#core.callReader({ kind: 'power-on' }, (result) => {
      this.#probes--;
      this.#poweredOn(generation, result);
      this.syncVm();
    });
  }

  #poweredOn(generation: number, result: ReaderResult): void {
    const core = this.#core;
    if (generation !== this.#generation) return;
    const powered = result.ok ? asPoweredResult(result.value) : null;
    if (powered === null) {
      const err = bridgeErrorFromReader(
        result.ok ? new TypeError('powerOn resolved without { atr, protocol }') : result.error,
      );
      if (isReaderLost(err.code)) this.readerGone(err.code);
      else if (err.code === 'BRIDGE_CARD_ABSENT') this.#retries.cancel();
      else if (!this.#retries.schedule(err, generation) && !core.isDone) {
        core.setState({ error: toErrorInfo(err), powerOnRetry: undefined });
      }
      return;
    }
    if (!core.isRunning) return;
    const card = poweredCard(powered, core.t0Compat);
    if (card.predictedRefusal !== null) {
      core.log('warn', 'QEMU 7.2 will probably refuse this ATR', { reason: card.predictedRefusal });
    }
    core.setState({ card, error: errorAfterNewCard(core.state.error), powerOnRetry: undefined });
    core.queue.resetBuffer();
  }
}
