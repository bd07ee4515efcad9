/**
 * The harness contract of the reader conformance suite: what an implementation of
 * {@link BridgeReader} (reader.ts) hands the suite so it can play the card holder and the
 * person at the USB port.
 *
 * One harness = one reader under test with one slot in use, built fresh for every test by a
 * {@link ReaderHarnessFactory}, torn down with `dispose()`. The card in the slot runs the
 * conformance card application, `conformanceCardAnswer` (card.ts): the harness calls it for
 * every command that reaches the card (a simulated card's `process`, a vpcd card's APDU
 * handler, …) and sends back its result unchanged.
 *
 * Examples: test/helpers/ccid-sim-harness.ts (the WebUSB `CcidReader` over
 * @cardlend/card-sim's simulated reader). A PC/SC harness runs pcscd with a vpcd virtual
 * reader whose card answers with `conformanceCardAnswer`: `insertCard`/`removeCard` connect
 * and disconnect the virtual card, `unplugReader` takes the reader away (e.g. stops the
 * vpcd driver's peer so pcscd drops the reader, or closes the PC/SC context under the reader
 * object as an unplug would), `holdNextAnswer` delays the virtual card's answer.
 */
import type { BridgeReader } from '../reader.ts';

/** What a factory is asked for. */
export interface ReaderHarnessOptions {
  /**
   * The reader's own time limit for a card answer, ms: a `transmit` whose answer has not come
   * after about this long must reject with `CCID_TIMEOUT` (the suite uses 1000 ms and waits
   * up to 10× that). A reader without a limit of its own gets one in its harness.
   */
  answerTimeoutMs: number;
  /** Whether the conformance card is in the slot (not powered) when the harness is returned. */
  withCard: boolean;
}

/** A command held at the card (see {@link ReaderHarness.holdNextAnswer}). */
export interface HeldAnswer {
  /** Resolves when the held command has reached the card application. */
  readonly reached: Promise<void>;
  /**
   * Lets the card answer the held command (the answer `conformanceCardAnswer` gives) and
   * resolves once the card has handed that answer to the reader side. A no-op after the
   * card was removed or the reader unplugged (it then resolves at once).
   */
  release(): Promise<void>;
}

/** One reader under test and the controls around it. */
export interface ReaderHarness {
  /** The reader, opened, with no event listener yet. The suite never closes it; `dispose` does. */
  readonly reader: BridgeReader;
  /** The slot the suite uses. */
  readonly slot: number;
  /** The ATR the conformance card sends; `powerOn` must resolve with exactly these bytes. */
  readonly atr: Uint8Array;
  /**
   * Puts the conformance card into the empty slot. Resolves when it is in; the reader reports
   * `card-inserted` by itself afterwards (by interrupt, polling or a status change).
   */
  insertCard(): Promise<void>;
  /**
   * Pulls the card out of the slot; the reader reports `card-removed` afterwards. A command
   * held at the card ends with it: the reader must fail it with `CCID_CARD_ABSENT` (as a
   * real reader answers at once when the card leaves), not wait for its time limit.
   */
  removeCard(): Promise<void>;
  /** Takes the reader away for good (unplug); the reader reports `reader-gone` afterwards. */
  unplugReader(): Promise<void>;
  /**
   * Makes the card keep its answer to the next command that reaches it until `release()`;
   * commands after that one are answered at once. At most one hold at a time.
   */
  holdNextAnswer(): HeldAnswer;
  /** Releases everything (any held answer, the reader, processes, sockets). Idempotent. */
  dispose(): Promise<void>;
}

/** Builds a fresh harness per test. */
export type ReaderHarnessFactory = (opts: ReaderHarnessOptions) => Promise<ReaderHarness>;
