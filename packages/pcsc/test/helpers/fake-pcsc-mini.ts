/**
 * A fake pcsc-mini module, as far as src/pcsc-mini-binding.ts uses it (`PcscMiniModule`):
 * `Client` (on, start, stop, reader), readers (name, connect, `change` events on request)
 * and cards whose calls stay under way until the test finishes them. Every `Client.stop()`
 * is recorded with the (fake) time it came at. For the adapter's own logic without a pcscd:
 * pass `module` to `createPcscMiniBinding`.
 */
import { EventEmitter } from 'node:events';
import type { PcscMiniModule } from '../../src/index.ts';

/** pcsc-mini's constants the adapter reads (pcsc-lite's values). */
const CardMode = { EXCLUSIVE: 1, SHARED: 2 } as const;
const CardDisposition = { LEAVE: 0, RESET: 1, UNPOWER: 2 } as const;
const Protocol = { T0: 1, T1: 2 } as const;
/** SCARD_PRESENT | SCARD_POWERED | SCARD_SPECIFIC: a card in use by a handle. */
const CARD_IN_USE = 0x04 | 0x10 | 0x40;

/** What a pending call is. */
export type FakeCallKind = 'connect' | 'state' | 'transmit' | 'reconnect' | 'disconnect';

/** A call of the adapter into the fake, under way until the test finishes or fails it. */
export interface FakeCall {
  readonly what: FakeCallKind;
  /** Resolves it with the fake's answer. */
  finish(): void;
  /** Rejects it as pcsc-mini does: an Error with a Zig error name as `code`. */
  fail(code: string): void;
}

export class FakePcscMini {
  /** The module to hand to `createPcscMiniBinding`. */
  readonly module: PcscMiniModule;
  /** `Date.now()` at every `Client.stop()`, in order. */
  readonly stops: number[] = [];
  /** Calls under way, oldest first. */
  readonly calls: FakeCall[] = [];
  /** Every client made (one per context), oldest first. */
  readonly clients: FakeClient[] = [];

  /** `readerNames`: the readers every client reports when started. */
  constructor(readerNames: readonly string[]) {
    const Client = clientClassOf(this, readerNames);
    // pcsc-mini's classes have private members: no other class fits their types.
    this.module = { Client, CardMode, CardDisposition, Protocol } as unknown as PcscMiniModule;
  }

  /** The one call of kind `what` under way (throws when there is none or more than one). */
  call(what: FakeCallKind): FakeCall {
    const found = this.calls.filter((c) => c.what === what);
    if (found.length !== 1) throw new Error(`${found.length} ${what} calls under way`);
    return found[0]!;
  }

  /** Starts a call that is answered with `answer()` once the test finishes it. */
  begin<T>(what: FakeCallKind, answer: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const call: FakeCall = {
        what,
        finish: () => {
          this.#end(call);
          resolve(answer());
        },
        fail: (code) => {
          this.#end(call);
          reject(Object.assign(new Error(code), { code }));
        },
      };
      this.calls.push(call);
    });
  }

  #end(call: FakeCall): void {
    const at = this.calls.indexOf(call);
    if (at < 0) throw new Error(`the ${call.what} call has already ended`);
    this.calls.splice(at, 1);
  }
}

/** pcsc-mini's `Client` class (constructed without arguments) of one fake. */
function clientClassOf(fake: FakePcscMini, readerNames: readonly string[]): new () => FakeClient {
  return class Client extends FakeClient {
    constructor() {
      super(fake, readerNames);
    }
  };
}

class FakeClient extends EventEmitter {
  readonly #fake: FakePcscMini;
  readonly #readers = new Map<string, FakeReader>();

  constructor(fake: FakePcscMini, readerNames: readonly string[]) {
    super();
    this.#fake = fake;
    for (const name of readerNames) this.#readers.set(name, new FakeReader(fake, name));
    fake.clients.push(this);
  }

  /** Reports every reader at once (pcsc-mini: soon after, from its watch thread). */
  start(): this {
    for (const reader of this.#readers.values()) this.emit('reader', reader);
    return this;
  }

  stop(): void {
    this.#fake.stops.push(Date.now());
  }

  reader(name: string): FakeReader | undefined {
    return this.#readers.get(name);
  }
}

class FakeReader extends EventEmitter {
  readonly #fake: FakePcscMini;
  readonly #name: string;

  constructor(fake: FakePcscMini, name: string) {
    super();
    this.#fake = fake;
    this.#name = name;
  }

  name(): string {
    return this.#name;
  }

  connect(): Promise<FakeCard> {
    return this.#fake.begin('connect', () => new FakeCard(this.#fake, this.#name));
  }

  /** What the watch reports when the reader state changes (`raw`: SCARD_STATE_* bits). */
  change(raw: number): void {
    this.emit('change', { raw }, new Uint8Array(0));
  }
}

class FakeCard {
  readonly #fake: FakePcscMini;
  readonly #readerName: string;

  constructor(fake: FakePcscMini, readerName: string) {
    this.#fake = fake;
    this.#readerName = readerName;
  }

  protocol(): number {
    return Protocol.T1;
  }

  state(): Promise<unknown> {
    return this.#fake.begin('state', () => ({
      atr: Uint8Array.of(0x3b, 0x00),
      protocol: Protocol.T1,
      readerName: this.#readerName,
      status: { raw: CARD_IN_USE },
    }));
  }

  transmit(): Promise<Uint8Array> {
    return this.#fake.begin('transmit', () => Uint8Array.of(0x90, 0x00));
  }

  reconnect(): Promise<number> {
    return this.#fake.begin('reconnect', () => Protocol.T1);
  }

  disconnect(): Promise<void> {
    return this.#fake.begin('disconnect', () => undefined);
  }
}
