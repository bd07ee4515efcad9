/**
 * The computer's readers shared between page connections: one page at a time per reader
 * (a claim from `connect` to `disconnect` or the connection's end), reader calls for the page
 * that holds the reader, card events to that page only. Errors become protocol refusals:
 * the reader's own `CCID_*` code, or a `HELPER_*` code, with the PC/SC code below it.
 */
import { bytesToHex, hexToBytes, isPcscCodeName } from '@cardlend/helper-protocol';
import type {
  ClientMessage,
  ErrorSource,
  HelperErrorCode,
  HelperMessage,
  OkResult,
  ReaderEntry,
} from '@cardlend/helper-protocol';
import type { OpenedReader, ReaderService } from '../ports.ts';
import type { ReaderSummary } from '../reader-choice.ts';

/** A page connection as the hub sees it. */
export interface HubClient {
  readonly id: number;
  /** Sends an event to the page (the gate drops it unless the page is approved). */
  notify(message: HelperMessage): void;
}

/**
 * A refused request: a helper code or the reader's code, and the PC/SC code below it when the
 * smart-card service failed (sent as the error's `source`, so the page words it as the CLI does).
 */
export class HubRefusal extends Error {
  readonly code: HelperErrorCode | `CCID_${string}`;
  readonly source: ErrorSource | undefined;
  constructor(code: HelperErrorCode | `CCID_${string}`, message: string, source?: ErrorSource) {
    super(message);
    this.code = code;
    this.source = source;
  }
}

interface Claim {
  readonly owner: HubClient;
  /** null while opening. */
  reader: OpenedReader | null;
  off: () => void;
}

function errorCode(e: unknown): string | undefined {
  const c = (e as { code?: unknown } | null)?.code;
  return typeof c === 'string' ? c : undefined;
}

function sourceCode(e: unknown): string | undefined {
  const c = (e as { sourceCode?: unknown } | null)?.sourceCode;
  return typeof c === 'string' ? c : undefined;
}

/**
 * A thrown reader or service error as a refusal, with the PC/SC code it kept (PcscError's
 * `sourceCode`, what the bridge reads in the CLI) as the refusal's source.
 */
export function toRefusal(e: unknown): HubRefusal {
  if (e instanceof HubRefusal) return e;
  const message = e instanceof Error ? e.message : String(e);
  const pcsc = sourceCode(e);
  const source: ErrorSource | undefined = isPcscCodeName(pcsc)
    ? { kind: 'pcsc', code: pcsc }
    : undefined;
  if (pcsc === 'SCARD_E_NO_SERVICE' || pcsc === 'SCARD_E_SERVICE_STOPPED')
    return new HubRefusal('HELPER_NO_SERVICE', message, source);
  if (pcsc === 'SCARD_E_UNKNOWN_READER')
    return new HubRefusal('HELPER_UNKNOWN_READER', message, source);
  const code = errorCode(e);
  if (code !== undefined && /^CCID_[A-Z_]{1,40}$/.test(code))
    return new HubRefusal(code as `CCID_${string}`, message, source);
  return new HubRefusal('HELPER_INTERNAL', message, source);
}

function toEntry(r: ReaderSummary, isHeldByOther: boolean): ReaderEntry {
  const card =
    r.state === 'empty' || r.state === 'unknown'
      ? 'absent'
      : r.state === 'mute'
        ? 'mute'
        : 'present';
  const inUse = isHeldByOther || r.state === 'in-use';
  return r.atr === null || card === 'absent'
    ? { name: r.name, card, inUse }
    : { name: r.name, card, atr: bytesToHex(r.atr), inUse };
}

/** The shared readers (see the module comment). */
export class ReaderHub {
  readonly #service: () => Promise<ReaderService>;
  readonly #claims = new Map<string, Claim>();

  /** `service` opens the PC/SC service (lazily: it may be down when the helper starts). */
  constructor(service: () => Promise<ReaderService>) {
    this.#service = service;
  }

  /** Carries out an approved page's request. Rejects with a {@link HubRefusal}. */
  async handle(client: HubClient, m: ClientMessage): Promise<OkResult> {
    try {
      return await this.#handle(client, m);
    } catch (e) {
      throw toRefusal(e);
    }
  }

  async #handle(client: HubClient, m: ClientMessage): Promise<OkResult> {
    switch (m.type) {
      case 'pair':
        throw new HubRefusal('HELPER_INTERNAL', 'pairing is not a reader request');
      case 'list': {
        const readers = await (await this.#service()).list();
        return { readers: readers.map((r) => toEntry(r, this.#isHeldByOther(r.name, client))) };
      }
      case 'connect':
        await this.#connect(client, m.reader);
        return {};
      case 'disconnect':
        await this.#release(m.reader, client);
        return {};
      case 'status':
        return { slot: await this.#reader(client, m.reader).getSlotStatus(0) };
      case 'power-on': {
        const card = await this.#reader(client, m.reader).powerOn(0);
        return { atr: bytesToHex(card.atr), protocol: card.protocol };
      }
      case 'power-off':
        await this.#reader(client, m.reader).powerOff(0);
        return {};
      case 'transmit': {
        const answer = await this.#reader(client, m.reader).transmit(hexToBytes(m.apdu), {
          slot: 0,
        });
        return { answer: bytesToHex(answer) };
      }
    }
  }

  #isHeldByOther(name: string, client: HubClient): boolean {
    const claim = this.#claims.get(name);
    return claim !== undefined && claim.owner.id !== client.id;
  }

  #reader(client: HubClient, name: string): OpenedReader {
    const claim = this.#claims.get(name);
    if (claim === undefined || claim.owner.id !== client.id || claim.reader === null)
      throw new HubRefusal('HELPER_NOT_CONNECTED', `connect to ${name} first`);
    return claim.reader;
  }

  async #connect(client: HubClient, name: string): Promise<void> {
    const held = this.#claims.get(name);
    if (held !== undefined) {
      if (held.owner.id === client.id && held.reader !== null) return;
      throw new HubRefusal('HELPER_READER_IN_USE', 'another page uses this reader');
    }
    // Claimed before the first await: a second page asking at the same time is refused.
    const claim: Claim = { owner: client, reader: null, off: () => {} };
    this.#claims.set(name, claim);
    try {
      const reader = await (await this.#service()).open(name);
      if (this.#claims.get(name) !== claim) {
        await reader.close(); // released while opening (the page went away)
        throw new HubRefusal('HELPER_NOT_CONNECTED', 'the page let go while connecting');
      }
      claim.reader = reader;
      claim.off = reader.onEvent((e) => this.#onReaderEvent(name, claim, e.type));
    } catch (e) {
      if (this.#claims.get(name) === claim) this.#claims.delete(name);
      throw e;
    }
  }

  #onReaderEvent(name: string, claim: Claim, type: string): void {
    if (this.#claims.get(name) !== claim) return;
    if (type === 'card-inserted' || type === 'card-removed')
      claim.owner.notify({ type: 'card', reader: name, present: type === 'card-inserted' });
    else if (type === 'reader-gone') {
      claim.owner.notify({ type: 'reader-gone', reader: name });
      void this.#release(name, claim.owner);
    } else if (type === 'hardware-error')
      claim.owner.notify({ type: 'card', reader: name, present: false });
  }

  async #release(name: string, client: HubClient): Promise<void> {
    const claim = this.#claims.get(name);
    if (claim === undefined || claim.owner.id !== client.id) return;
    this.#claims.delete(name);
    claim.off();
    await claim.reader?.close().catch(() => undefined);
  }

  /** Lets go of every reader `client` holds (its connection ended). */
  async releaseAll(client: HubClient): Promise<void> {
    const names = [...this.#claims].filter(([, c]) => c.owner.id === client.id).map(([n]) => n);
    await Promise.all(names.map((n) => this.#release(n, client)));
  }

  /** Which page holds each reader (for tests and the terminal). */
  holders(): Map<string, number> {
    return new Map([...this.#claims].map(([n, c]) => [n, c.owner.id]));
  }
}
