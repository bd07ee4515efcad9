/**
 * Starts the helper server on 127.0.0.1 (a free port) over memory readers, with a scripted
 * terminal, and opens raw WebSocket clients that record every message and the close.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { WebSocket } from 'ws';
import type { MemorySlot } from '@cardlend/bridge/conformance';
import { HELPER_PATH, HELPER_SUBPROTOCOL } from '@cardlend/helper-protocol';
import type { HelperMessage } from '@cardlend/helper-protocol';
import { ApprovalStore, approvalsPath } from '../../src/serve/approvals.ts';
import { Pairing } from '../../src/serve/pairing.ts';
import { startHelperServer } from '../../src/serve/server.ts';
import type { HelperServerOptions } from '../../src/serve/options.ts';
import type { HelperServer } from '../../src/serve/server.ts';
import type { Prompter } from '../../src/ports.ts';
import type { HelperSocket } from '../../../web/src/lib/helper/helper-client.ts';
import { memoryService, memorySlot } from './memory-service.ts';

export const PAGE = 'https://lend.example.org';
export const READER_A = 'Secret Reader Model A 00';
export const READER_B = 'Secret Reader Model B 01';

/** A terminal whose answers the test gives; records the questions. */
export class ScriptedPrompter implements Prompter {
  readonly questions: string[] = [];
  #answer: ((a: string | null) => void) | null = null;
  #asked: (() => void) | null = null;

  ask(text: string, signal?: AbortSignal): Promise<string | null> {
    this.questions.push(text);
    this.#asked?.();
    return new Promise((resolve) => {
      this.#answer = resolve;
      signal?.addEventListener('abort', () => {
        if (this.#answer === resolve) this.#answer = null;
        resolve(null);
      });
    });
  }

  /** Whether a question waits for an answer. */
  get isWaiting(): boolean {
    return this.#answer !== null;
  }

  /** Resolves once a question is asked (at once if one is waiting). */
  asked(): Promise<void> {
    if (this.#answer !== null) return Promise.resolve();
    return new Promise((r) => (this.#asked = r));
  }

  answer(a: string | null): void {
    const answer = this.#answer;
    this.#answer = null;
    this.#asked = null;
    answer?.(a);
  }
}

export interface Fixture {
  readonly server: HelperServer;
  readonly slots: MemorySlot[];
  readonly store: ApprovalStore;
  readonly prompter: ScriptedPrompter;
  readonly log: string[];
  readonly configDir: string;
  dispose(): Promise<void>;
}

export async function startFixture(
  opts: {
    approved?: string[];
    withPrompter?: boolean;
    limits?: HelperServerOptions['limits'];
    answerTimeoutMs?: number;
  } = {},
): Promise<Fixture> {
  const configDir = mkdtempSync(join(tmpdir(), 'cardlend-serve-'));
  const store = new ApprovalStore(
    approvalsPath({ CARDLEND_CONFIG_DIR: configDir }),
    opts.approved ?? [],
    Date.now,
  );
  const slots = [
    memorySlot(READER_A, true, opts.answerTimeoutMs),
    memorySlot(READER_B, false, opts.answerTimeoutMs),
  ];
  const prompter = new ScriptedPrompter();
  const log: string[] = [];
  const service = memoryService(slots);
  const server = await startHelperServer({
    host: '127.0.0.1',
    port: 0,
    service: async () => service,
    approvals: store,
    pairing: new Pairing(opts.withPrompter === false ? null : prompter, () => '042137'),
    helperName: 'cardlend test',
    now: Date.now,
    log: (l) => log.push(l),
    watchIntervalMs: 20,
    ...(opts.limits === undefined ? {} : { limits: opts.limits }),
  });
  return {
    server,
    slots,
    store,
    prompter,
    log,
    configDir,
    dispose: async () => {
      await server.close();
      rmSync(configDir, { recursive: true, force: true });
    },
  };
}

/** `startFixture` for tests that start one each: the fixture is disposed after its test. */
export function fixturePerTest(): typeof startFixture {
  let current: Fixture | undefined;
  afterEach(async () => {
    await current?.dispose();
    current = undefined;
  });
  return async (opts) => (current = await startFixture(opts));
}

/** A raw client: every message and the close, recorded. */
export class RawClient {
  readonly ws: WebSocket;
  readonly messages: HelperMessage[] = [];
  readonly raw: string[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  readonly opened: Promise<boolean>;
  #waiters: { test: (m: HelperMessage) => boolean; resolve: (m: HelperMessage) => void }[] = [];
  #nextId = 1;

  constructor(
    port: number,
    opts: { origin?: string; protocols?: string[]; host?: string; path?: string } = {},
  ) {
    const headers: Record<string, string> = {};
    if (opts.host !== undefined) headers['host'] = opts.host;
    this.ws = new WebSocket(
      `ws://127.0.0.1:${port}${opts.path ?? HELPER_PATH}`,
      opts.protocols ?? [HELPER_SUBPROTOCOL],
      {
        ...(opts.origin === undefined ? {} : { origin: opts.origin }),
        headers,
        perMessageDeflate: false,
      },
    );
    this.opened = new Promise((resolve) => {
      this.ws.once('open', () => resolve(true));
      this.ws.once('error', () => resolve(false));
    });
    this.closed = new Promise((resolve) => {
      this.ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() }));
      this.ws.once('error', () => resolve({ code: -1, reason: 'handshake failed' }));
    });
    this.ws.on('message', (data) => {
      const text = data.toString();
      this.raw.push(text);
      const m = JSON.parse(text) as HelperMessage;
      this.messages.push(m);
      this.#waiters = this.#waiters.filter((w) => {
        if (!w.test(m)) return true;
        w.resolve(m);
        return false;
      });
    });
  }

  /** The first message (seen or coming) that passes `test`. */
  next(test: (m: HelperMessage) => boolean): Promise<HelperMessage> {
    const seen = this.messages.find(test);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve) => this.#waiters.push({ test, resolve }));
  }

  /** Sends a request and waits for its answer (ok or error). */
  async request(body: Record<string, unknown>): Promise<HelperMessage> {
    await this.next((m) => m.type === 'hello');
    const id = this.#nextId++;
    this.ws.send(JSON.stringify({ ...body, id }));
    return this.next((m) => (m.type === 'ok' || m.type === 'error') && m.id === id);
  }

  sendRaw(data: string | Buffer): void {
    this.ws.send(data);
  }
}

/** A WebSocket from `ws` that sends `origin` as a page would (for the page's HelperClient). */
export function pageSocket(origin: string) {
  return (url: string, protocols: string[]): HelperSocket =>
    new WebSocket(url, protocols, { origin, perMessageDeflate: false }) as unknown as HelperSocket;
}
