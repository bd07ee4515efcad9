/**
 * A scripted helper WebSocket for the page's unit tests: records what the page sends, and lets
 * the test play the helper (messages, close).
 */
import type { HelperSocket } from './helper-client.ts';

type Listener = (event: never) => void;

export class FakeHelperSocket implements HelperSocket {
  readyState = 0;
  protocol = '';
  readonly sent: Record<string, unknown>[] = [];
  readonly url: string;
  readonly #listeners = new Map<string, Listener[]>();

  constructor(url: string) {
    this.url = url;
  }

  addEventListener(type: string, listener: Listener): void {
    this.#listeners.set(type, [...(this.#listeners.get(type) ?? []), listener]);
  }

  send(data: string): void {
    this.sent.push(JSON.parse(data) as Record<string, unknown>);
  }

  close(): void {
    this.readyState = 3;
  }

  #fire(type: string, event: unknown): void {
    for (const l of this.#listeners.get(type) ?? []) (l as (e: unknown) => void)(event);
  }

  /** The helper accepts and says hello. */
  hello(approved: boolean): void {
    this.readyState = 1;
    this.protocol = 'cardlend-helper.v1';
    this.#fire('open', {});
    this.message({ type: 'hello', version: 1, helper: 'cardlend 0.1.0', approved });
  }

  message(m: unknown): void {
    this.#fire('message', { data: typeof m === 'string' ? m : JSON.stringify(m) });
  }

  /** Answers the last request of `type` with `result`. */
  answer(type: string, result: unknown): void {
    const req = [...this.sent].reverse().find((s) => s['type'] === type);
    this.message({ type: 'ok', id: req?.['id'], result });
  }

  /** Answers the last request sent with the helper error `code`. */
  refuseLast(code: string, message: string): void {
    const req = this.sent.at(-1);
    this.message({ type: 'error', id: req?.['id'], code, message });
  }

  serverClose(code: number, reason = ''): void {
    this.readyState = 3;
    this.#fire('close', { code, reason });
  }
}

/** A factory that records its sockets. */
export function fakeSockets(): {
  sockets: FakeHelperSocket[];
  create: (url: string) => FakeHelperSocket;
} {
  const sockets: FakeHelperSocket[] = [];
  return {
    sockets,
    create: (url) => {
      const s = new FakeHelperSocket(url);
      sockets.push(s);
      return s;
    },
  };
}
