/**
 * The page's state of the local helper: looking for it, pairing, its reader list, opening a
 * reader for lending, and the helper stopping. The component HelperReaders.svelte shows it.
 */
import type { HelperErrorCode, ReaderEntry } from '@cardlend/helper-protocol';
import type { OpenedReader } from '../state/ports.ts';
import { discoverHelper } from './discovery.ts';
import type { LnaPermission } from './discovery.ts';
import type { CreateHelperSocket, HelperClient } from './helper-client.ts';
import { HelperRequestError } from './helper-client.ts';
import { openedHelperReader } from './helper-opened-reader.ts';
import { HelperReader, HelperReaderError } from './helper-reader.ts';

export type HelperStatus =
  | 'idle'
  | 'looking'
  | 'absent'
  | 'blocked'
  | 'not-approved'
  | 'pairing'
  | 'ready'
  | 'refused'
  | 'stopped';

/** What the panel needs from the browser. */
export interface HelperPanelDeps {
  readonly url: string;
  readonly createSocket: CreateHelperSocket;
  readonly permission: () => Promise<LnaPermission>;
}

function helperCodeOf(e: unknown): HelperErrorCode | null {
  if (e instanceof HelperReaderError) return e.helperCode;
  if (e instanceof HelperRequestError && e.code.startsWith('HELPER_'))
    return e.code as HelperErrorCode;
  return null;
}

export class HelperPanel {
  status = $state<HelperStatus>('idle');
  /** The last refusal, explained by the component. */
  code = $state<HelperErrorCode | null>(null);
  permission = $state<LnaPermission>('unknown');
  pairingCode = $state<string | null>(null);
  readers = $state<readonly ReaderEntry[]>([]);
  helperName = $state<string>('');
  /** Whether a reader of this helper was opened for lending (and not let go). */
  isLendingHere = $state(false);
  readonly #deps: HelperPanelDeps;
  #client: HelperClient | null = null;

  constructor(deps: HelperPanelDeps) {
    this.#deps = deps;
  }

  /**
   * Looks for the helper without making the browser ask: only when the page may already reach
   * loopback (the permission granted, or a page of this computer). Otherwise the person clicks
   * "Look for the helper" (and the browser's prompt then makes sense).
   */
  async findIfAllowed(isPageOnLoopback: boolean): Promise<void> {
    const permission = await this.#deps.permission();
    this.permission = permission;
    if (permission === 'granted' || isPageOnLoopback) await this.find();
  }

  /** Looks for a running helper (and lists its readers when this page is approved). */
  async find(): Promise<void> {
    if (this.status === 'looking' || this.status === 'pairing') return;
    this.#client?.close();
    this.#client = null;
    this.status = 'looking';
    this.code = null;
    const found = await discoverHelper(this.#deps);
    if (found.kind === 'absent') {
      this.permission = found.permission;
      this.status = 'absent';
    } else if (found.kind === 'blocked') this.status = 'blocked';
    else if (found.kind === 'refused') {
      this.status = 'refused';
      this.code = found.code;
    } else {
      this.#attach(found.client);
      if (found.client.approved) await this.refresh();
      else {
        this.status = 'not-approved';
        this.code = 'HELPER_ORIGIN_NOT_APPROVED';
      }
    }
  }

  #attach(client: HelperClient): void {
    this.#client = client;
    this.helperName = client.helper;
    client.onEvent((e) => {
      if (e.type === 'pairing') this.pairingCode = e.code;
      else if (e.type === 'readers-changed') void this.refresh();
      else if (e.type === 'closed' && this.#client === client) {
        this.#client = null;
        this.readers = [];
        this.status = 'stopped';
        this.code = e.helperCode ?? 'HELPER_STOPPING';
      }
    });
  }

  /** Asks the helper to approve this page; the helper's terminal shows the same code. */
  async pair(): Promise<void> {
    const client = this.#client;
    if (client === null) return;
    this.status = 'pairing';
    this.pairingCode = null;
    try {
      await client.pair();
      this.pairingCode = null;
      await this.refresh();
    } catch (e) {
      this.pairingCode = null;
      if (this.#client !== client) return;
      this.status = 'refused';
      this.code = helperCodeOf(e) ?? 'HELPER_INTERNAL';
    }
  }

  /** Lists the helper's readers. */
  async refresh(): Promise<void> {
    const client = this.#client;
    if (client === null) return;
    try {
      this.readers = (await client.request({ type: 'list' })).readers;
      this.status = 'ready';
      this.code = null;
    } catch (e) {
      this.readers = [];
      this.code = helperCodeOf(e) ?? 'HELPER_INTERNAL';
      this.status = this.code === 'HELPER_ORIGIN_NOT_APPROVED' ? 'not-approved' : 'refused';
    }
  }

  /** Takes reader `name` for lending. Rejects with a HelperReaderError (explained by the page). */
  async open(name: string): Promise<OpenedReader> {
    const client = this.#client;
    if (client === null)
      throw new HelperReaderError('CCID_READER_GONE', 'no helper', 'HELPER_STOPPING');
    const opened = openedHelperReader(await HelperReader.open(client, name));
    this.isLendingHere = true;
    const close = opened.close;
    return {
      ...opened,
      close: async () => {
        this.isLendingHere = false;
        await close();
      },
    };
  }

  /** Whether the helper is connected. */
  get isConnected(): boolean {
    return this.#client?.isOpen ?? false;
  }
}
