/**
 * A simulated card (a `VirtualCard` of @cardlend/card-sim: PIV demo card, T=0 and T=1 test
 * cards, …) plugged into pcscd's vpcd reader over one TCP connection. Connected = card
 * inserted; `remove()` closes the connection = card pulled. Faults are injected per command
 * with `onCommand`.
 */
import type { Socket } from 'node:net';
import type { VirtualCard } from '@cardlend/card-sim';
import { encodeVpcdFrame, VpcdFramer } from './vpcd-protocol.ts';
import type { VpcdMessage } from './vpcd-protocol.ts';

/** What the card does with one command instead of answering it normally. */
export type VpcdFault =
  /** The card is pulled while it processes the command (the connection closes, no answer). */
  | { kind: 'pull' }
  /** The card never answers (vpcd, and pcscd's call, wait for good). */
  | { kind: 'mute' }
  /** Answer after this many milliseconds. */
  | { kind: 'delay'; ms: number }
  /**
   * Keep the answer until `until` resolves (nothing is sent if the card was pulled
   * meanwhile); `onSent` is called once the answer was handed to vpcd.
   */
  | { kind: 'wait'; until: Promise<unknown>; onSent?: () => void }
  /** Answer these bytes instead of the card's answer. */
  | { kind: 'answer'; bytes: Uint8Array };

/** Options of {@link VpcdCard}. */
export interface VpcdCardOptions {
  /** Called for every command APDU (0-based index); a fault replaces the normal answer. */
  onCommand?: (apdu: Uint8Array, index: number) => VpcdFault | undefined;
}

/** One exchange the card saw. */
export interface VpcdExchange {
  readonly command: Uint8Array;
  /** null when no answer was sent (pull, mute). */
  readonly response: Uint8Array | null;
}

/** A virtual card connected to vpcd (see the module comment). */
export class VpcdCard {
  readonly card: VirtualCard;
  /** The slot (vpcd reader index) it sits in. */
  readonly slot: number;
  /** Every command and answer, in order (across reconnections). */
  readonly exchanges: VpcdExchange[] = [];
  /** Control messages seen (`on`, `off`, `reset`, `atr-request`), in order. */
  readonly controls: VpcdMessage['type'][] = [];
  readonly #opts: VpcdCardOptions;
  #socket: Socket | null = null;
  #closed: Promise<void> = Promise.resolve();
  #noticed: Promise<void> = Promise.resolve();
  #isRemoved = false;

  constructor(card: VirtualCard, slot: number, opts: VpcdCardOptions = {}) {
    this.card = card;
    this.slot = slot;
    this.#opts = opts;
  }

  /** True while connected (the card is in the reader). */
  get isInserted(): boolean {
    return this.#socket !== null;
  }

  /** True once the card was pulled on purpose (remove(), or a `pull` fault). */
  get isRemoved(): boolean {
    return this.#isRemoved;
  }

  /** Uses a connected socket to vpcd (the card is inserted); replaces a closed one. */
  attach(socket: Socket): void {
    if (this.#socket !== null) throw new Error('the card is already connected');
    this.#socket = socket;
    this.#isRemoved = false;
    const framer = new VpcdFramer();
    let chain = Promise.resolve();
    socket.setNoDelay(true);
    this.#closed = new Promise((resolve) => {
      socket.once('close', () => {
        if (this.#socket === socket) this.#socket = null;
        resolve();
      });
    });
    this.#noticed = new Promise((resolve) => {
      socket.once('data', () => resolve());
      void this.#closed.then(resolve);
    });
    socket.on('data', (chunk: Buffer) => {
      for (const message of framer.push(new Uint8Array(chunk))) {
        chain = chain
          .then(() => this.#handle(socket, message))
          .catch(() => {
            socket.destroy();
          });
      }
    });
    socket.on('error', () => undefined); // 'close' follows
    socket.resume();
  }

  /** Resolves once vpcd has spoken to the card (pcscd noticed it), or the connection closed. */
  whenNoticed(): Promise<void> {
    return this.#noticed;
  }

  /** Resolves when the current connection is gone (removed, or pcscd went away). */
  whenClosed(): Promise<void> {
    return this.#closed;
  }

  /** Pulls the card: closes the connection. Resolves when it is closed. */
  async remove(): Promise<void> {
    this.#isRemoved = true;
    this.#socket?.destroy();
    await this.#closed;
  }

  async #handle(socket: Socket, message: VpcdMessage): Promise<void> {
    if (this.#socket !== socket) return;
    if (message.type !== 'apdu') {
      if (message.type !== 'unknown') this.controls.push(message.type);
      if (message.type === 'on' || message.type === 'reset') this.card.reset?.();
      if (message.type === 'atr-request') send(socket, this.card.atr);
      return;
    }
    const index = this.exchanges.length;
    const fault = this.#opts.onCommand?.(message.apdu, index);
    if (fault?.kind === 'pull' || fault?.kind === 'mute') {
      this.exchanges.push({ command: message.apdu, response: null });
      if (fault.kind === 'pull') {
        this.#isRemoved = true;
        socket.destroy();
      }
      return;
    }
    if (fault?.kind === 'delay') await new Promise((r) => setTimeout(r, fault.ms));
    if (fault?.kind === 'wait') await fault.until;
    const response = fault?.kind === 'answer' ? fault.bytes : await this.card.process(message.apdu);
    this.exchanges.push({ command: message.apdu, response });
    send(socket, response);
    if (fault?.kind === 'wait') fault.onSent?.();
  }
}

function send(socket: Socket, payload: Uint8Array): void {
  if (!socket.destroyed) socket.write(encodeVpcdFrame(payload));
}
