/**
 * A reader of the computer reached through the local helper, as a bridge reader
 * (`BridgeReader` of @cardlend/bridge): the bridge lends it exactly like a WebUSB reader.
 * Each call is one request to the helper; the helper's refusals become the reader
 * vocabulary's codes (`CCID_*`), with the helper's own code kept in `helperCode` so the page
 * can explain it, and the PC/SC code below a reader failure (the error's `source`) in
 * `sourceCode`, where the bridge reads it from a PC/SC reader. The helper stopping (its connection closing) is the reader going away:
 * `reader-gone`, and every call fails with `CCID_READER_GONE`.
 */
import { bytesToHex, hexToBytes } from '@cardlend/helper-protocol';
import type { HelperErrorCode } from '@cardlend/helper-protocol';
import type { BridgeReader, BridgeReaderEvent, PoweredCard, SlotStatus } from '@cardlend/bridge';
import { HelperRequestError } from './helper-client.ts';
import type { HelperClient, HelperClientEvent } from './helper-client.ts';

/** What a {@link HelperReaderError} was explained by (@cardlend/problems' failure shape). */
export type HelperReaderErrorSource =
  | { readonly kind: 'helper'; readonly code: HelperErrorCode }
  | { readonly kind: 'pcsc'; readonly code: string };

/**
 * A failed call: `code` in the reader vocabulary, `helperCode` what the helper said, and
 * `sourceCode` the PC/SC code the helper's smart-card service gave (`SCARD_…`), kept exactly as
 * PcscError of @cardlend/pcsc keeps it, so the bridge's `bridgeErrorFromReader` gives the same
 * source (and the page the same words and reference) as `cardlend lend` on that computer.
 * `source` explains an error raised outside the bridge (opening the reader): the helper's own
 * refusal first, else the PC/SC code.
 */
export class HelperReaderError extends Error {
  readonly code: string;
  readonly helperCode: HelperErrorCode | null;
  readonly sourceCode: string | undefined;
  readonly source: HelperReaderErrorSource | undefined;
  constructor(
    code: string,
    message: string,
    helperCode: HelperErrorCode | null = null,
    sourceCode?: string,
  ) {
    super(message);
    this.name = 'HelperReaderError';
    this.code = code;
    this.helperCode = helperCode;
    this.sourceCode = sourceCode;
    this.source =
      helperCode !== null
        ? { kind: 'helper', code: helperCode }
        : sourceCode === undefined
          ? undefined
          : { kind: 'pcsc', code: sourceCode };
  }
}

/** The reader code for a helper refusal. */
export function readerCodeFor(code: HelperRequestError['code']): string {
  if (code.startsWith('CCID_')) return code;
  switch (code) {
    case 'HELPER_READER_IN_USE':
      return 'CCID_DEVICE_BUSY';
    case 'TIMEOUT':
      return 'CCID_TIMEOUT';
    case 'HELPER_NO_SERVICE':
    case 'HELPER_INTERNAL':
    case 'HELPER_MALFORMED':
      return 'CCID_TRANSFER_FAILED';
    default:
      // closed, stopping, not connected, unknown reader, limits: the reader is out of reach
      return 'CCID_READER_GONE';
  }
}

function toReaderError(e: unknown): HelperReaderError {
  if (e instanceof HelperReaderError) return e;
  if (e instanceof HelperRequestError) {
    const helperCode = e.code.startsWith('HELPER_') ? (e.code as HelperErrorCode) : null;
    return new HelperReaderError(readerCodeFor(e.code), e.message, helperCode, e.source?.code);
  }
  return new HelperReaderError('CCID_TRANSFER_FAILED', e instanceof Error ? e.message : String(e));
}

/** Options of {@link HelperReader.open}. */
export interface HelperReaderOptions {
  /** Time limit of a card command, ms, on this side (the helper has its own); default 90 000. */
  readonly transmitTimeoutMs?: number;
}

/** A helper reader (see the module comment). Open with {@link HelperReader.open}. */
export class HelperReader implements BridgeReader {
  readonly name: string;
  readonly info: { readonly productName: string };
  readonly #client: HelperClient;
  readonly #listeners = new Set<(e: BridgeReaderEvent) => void>();
  readonly #off: () => void;
  readonly #transmitTimeoutMs: number | undefined;
  #isGone = false;
  #isClosed = false;
  /** The helper's stop, or why the reader went away, for the page's explanation. */
  goneBecause: HelperErrorCode | null = null;

  private constructor(client: HelperClient, name: string, opts: HelperReaderOptions) {
    this.#client = client;
    this.name = name;
    this.info = { productName: name };
    this.#transmitTimeoutMs = opts.transmitTimeoutMs;
    this.#off = client.onEvent((e) => this.#onClientEvent(e));
  }

  /** Takes reader `name` for this page (`connect`). Rejects with a {@link HelperReaderError}. */
  static async open(
    client: HelperClient,
    name: string,
    opts: HelperReaderOptions = {},
  ): Promise<HelperReader> {
    try {
      await client.request({ type: 'connect', reader: name });
    } catch (e) {
      throw toReaderError(e);
    }
    return new HelperReader(client, name, opts);
  }

  getSlotStatus(slot = 0): Promise<SlotStatus> {
    return this.#call(slot, async () => {
      const r = await this.#client.request({ type: 'status', reader: this.name });
      return r.slot;
    });
  }

  powerOn(slot = 0): Promise<PoweredCard> {
    return this.#call(slot, async () => {
      const r = await this.#client.request({ type: 'power-on', reader: this.name });
      return { atr: hexToBytes(r.atr), protocol: r.protocol };
    });
  }

  powerOff(slot = 0): Promise<void> {
    return this.#call(slot, async () => {
      await this.#client.request({ type: 'power-off', reader: this.name });
    });
  }

  transmit(apdu: Uint8Array, opts?: { slot?: number }): Promise<Uint8Array> {
    return this.#call(opts?.slot ?? 0, async () => {
      const r = await this.#client.request(
        { type: 'transmit', reader: this.name, apdu: bytesToHex(apdu) },
        this.#transmitTimeoutMs,
      );
      return hexToBytes(r.answer);
    });
  }

  onEvent(listener: (e: BridgeReaderEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Whether the reader went away (unplugged, or the helper stopped). */
  get isGone(): boolean {
    return this.#isGone;
  }

  /** Lets go of the reader (`disconnect`); the connection stays the owner's. */
  async close(): Promise<void> {
    if (this.#isClosed) return;
    this.#isClosed = true;
    this.#off();
    if (!this.#isGone && this.#client.isOpen)
      await this.#client.request({ type: 'disconnect', reader: this.name }).catch(() => undefined);
  }

  async #call<T>(slot: number, fn: () => Promise<T>): Promise<T> {
    if (slot !== 0) throw new RangeError(`a helper reader has one slot (0), not ${slot}`);
    if (this.#isClosed) throw new HelperReaderError('CCID_CLOSED', 'the reader was closed');
    if (this.#isGone)
      throw new HelperReaderError('CCID_READER_GONE', 'the reader is gone', this.goneBecause);
    try {
      return await fn();
    } catch (e) {
      const err = toReaderError(e);
      if (this.#isGone && err.code !== 'CCID_CLOSED')
        throw new HelperReaderError(
          'CCID_READER_GONE',
          err.message,
          this.goneBecause ?? err.helperCode,
        );
      throw err;
    }
  }

  #onClientEvent(e: HelperClientEvent): void {
    if (this.#isGone) return;
    if (e.type === 'card' && e.reader === this.name)
      this.#emit({ type: e.present ? 'card-inserted' : 'card-removed', slot: 0 });
    else if ((e.type === 'reader-gone' && e.reader === this.name) || e.type === 'closed') {
      this.#isGone = true;
      this.goneBecause = e.type === 'closed' ? (e.helperCode ?? 'HELPER_STOPPING') : null;
      this.#emit({ type: 'reader-gone' });
    }
  }

  #emit(e: BridgeReaderEvent): void {
    for (const l of [...this.#listeners]) {
      try {
        l(e);
      } catch {
        // one listener's failure does not stop the others
      }
    }
  }
}
