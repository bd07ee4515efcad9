/**
 * Debian's Chromium driven over the DevTools protocol with only the Page and Runtime domains,
 * for the chain benchmark. Playwright (the e2e tests' driver) enables the Network domain on
 * every page, and Chromium then reports each WebSocket frame to the driver process: on the
 * 2-core machine that alone added about 0.5 ms to every guest APDU (chain p50 +1.10 ms under
 * Playwright, +0.60 ms without), a cost no user's browser pays. Here nothing listens to frames.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';

/** One page of a headless Chromium. */
export interface CdpPage {
  /** Sends a DevTools command; rejects with the protocol's error message. */
  call(method: string, params?: Record<string, unknown>): Promise<Record<string, unknown>>;
  /** Evaluates an expression in the page (as a user gesture) and returns its JSON value. */
  evaluate(expression: string): Promise<unknown>;
  /** Calls `listener` with the params of each `method` event (only domains enabled on purpose). */
  on(method: string, listener: (params: Record<string, unknown>) => void): void;
}

/** A running Chromium; `close()` kills it and removes its profile. */
export interface CdpBrowser {
  readonly page: CdpPage;
  close(): Promise<void>;
}

/** Starts `/usr/bin/chromium` headless (root-safe flags) and attaches to its first page. */
export async function launchChromium(timeoutMs = 30_000): Promise<CdpBrowser> {
  const profile = mkdtempSync(path.join(tmpdir(), 'cardlend-cdp-'));
  const chrome = spawn(
    '/usr/bin/chromium',
    [
      '--headless=new',
      '--no-sandbox',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-gpu',
      '--no-first-run',
      '--remote-debugging-port=0',
      // A laptop-sized window: the page's live APDU log is on screen, as for a user watching
      // it (headless defaults to 780 × 437 CSS px, where the log sits below the fold).
      '--window-size=1280,1000',
      `--user-data-dir=${profile}`,
      'about:blank',
    ],
    // Its own process group, so close() ends the renderer and helper processes too.
    { stdio: ['ignore', 'ignore', 'pipe'], detached: true },
  );
  const close = async (): Promise<void> => {
    if (chrome.exitCode === null && chrome.signalCode === null) {
      const exited = new Promise((r) => chrome.once('exit', r));
      try {
        process.kill(-(chrome.pid as number), 'SIGKILL');
      } catch {
        chrome.kill('SIGKILL');
      }
      await exited;
    }
    // A helper process may still be writing to the profile for a moment.
    rmSync(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  };
  try {
    const browserUrl = await new Promise<string>((resolve, reject) => {
      let stderr = '';
      const timer = setTimeout(
        () => reject(new Error(`Chromium did not open DevTools:\n${stderr}`)),
        timeoutMs,
      );
      chrome.stderr.on('data', (c: Buffer) => {
        stderr += c.toString('utf8');
        const m = /DevTools listening on (ws:\/\/\S+)/.exec(stderr);
        if (m?.[1] !== undefined) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
      chrome.once('exit', (code) => reject(new Error(`Chromium exited (${code}):\n${stderr}`)));
    });
    const pageUrl = await firstPageUrl(new URL(browserUrl).port, timeoutMs);
    const page = await attach(pageUrl);
    return {
      page: page.page,
      close: async () => {
        page.socket.close();
        await close();
      },
    };
  } catch (e) {
    await close();
    throw e;
  }
}

async function firstPageUrl(port: string, timeoutMs: number): Promise<string> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const targets = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as {
      type: string;
      webSocketDebuggerUrl?: string;
    }[];
    const url = targets.find((t) => t.type === 'page')?.webSocketDebuggerUrl;
    if (url !== undefined) return url;
    if (Date.now() > end) throw new Error('Chromium has no page to attach to');
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function attach(url: string): Promise<{ page: CdpPage; socket: WebSocket }> {
  const socket = new WebSocket(url, { perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  let nextId = 0;
  const listeners = new Map<string, ((params: Record<string, unknown>) => void)[]>();
  const pending = new Map<
    number,
    { resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void }
  >();
  socket.on('message', (data: Buffer) => {
    const m = JSON.parse(data.toString('utf8')) as {
      id?: number;
      method?: string;
      params?: Record<string, unknown>;
      result?: Record<string, unknown>;
      error?: { message: string };
    };
    if (m.method !== undefined) for (const l of listeners.get(m.method) ?? []) l(m.params ?? {});
    const p = m.id === undefined ? undefined : pending.get(m.id);
    if (p === undefined || m.id === undefined) return;
    pending.delete(m.id);
    if (m.error) p.reject(new Error(m.error.message));
    else p.resolve(m.result ?? {});
  });
  socket.on('close', () => {
    for (const p of pending.values()) p.reject(new Error('DevTools connection closed'));
    pending.clear();
  });
  const call: CdpPage['call'] = (method, params = {}) =>
    new Promise((resolve, reject) => {
      const id = ++nextId;
      pending.set(id, { resolve, reject });
      socket.send(JSON.stringify({ id, method, params }));
    });
  const evaluate: CdpPage['evaluate'] = async (expression) => {
    const r = (await call('Runtime.evaluate', {
      expression,
      returnByValue: true,
      awaitPromise: true,
      userGesture: true,
    })) as { result?: { value?: unknown }; exceptionDetails?: { text?: string } };
    if (r.exceptionDetails) throw new Error(`page: ${r.exceptionDetails.text ?? 'exception'}`);
    return r.result?.value;
  };
  const on: CdpPage['on'] = (method, listener) => {
    listeners.set(method, [...(listeners.get(method) ?? []), listener]);
  };
  return { page: { call, evaluate, on }, socket };
}
