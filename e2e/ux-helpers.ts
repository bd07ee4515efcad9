/**
 * Helpers for the issue-14 UX specs: both viewport sizes, screenshots of each state per size,
 * "Stop is inside the viewport", an axe accessibility scan, a relay process that can be
 * killed and restarted on the same port, a minimal VSCard VM stand-in that sends the guest
 * commands a test needs (VERIFY without data, a wrong PIN …), and signed tokens minted in
 * the past or for a named target.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import AxeBuilder from '@axe-core/playwright';
import { expect, type Page, type TestInfo } from '@playwright/test';
import { mintToken as mintSignedToken } from '@cardlend/relay';
import { findFreePort } from '@cardlend/qemu-testbed';
import { relayReady } from './relay-ready.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const tsxBin = path.join(repoRoot, 'apps/relay/node_modules/.bin/tsx');

export const VIEWPORTS = [
  { name: 'laptop', width: 1280, height: 800 },
  { name: 'phone', width: 390, height: 844 },
] as const;
export type Viewport = (typeof VIEWPORTS)[number];

/** Screenshot of the viewport (what a person sees) and of the whole page, per size. */
export async function shoot(
  page: Page,
  testInfo: TestInfo,
  viewport: Viewport,
  state: string,
): Promise<void> {
  const base = `${viewport.name}-${state}`;
  await page.screenshot({ path: testInfo.outputPath(`${base}.png`) });
  await page.screenshot({ path: testInfo.outputPath(`${base}-full.png`), fullPage: true });
}

/** "Stop lending" is enabled-or-stopping and wholly inside the viewport, even scrolled down. */
export async function expectStopInViewport(page: Page): Promise<void> {
  const stop = page.getByTestId('lending-bar').getByRole('button');
  await expect(stop).toBeVisible();
  for (const y of [0, 100_000]) {
    await page.evaluate((top) => window.scrollTo(0, top), y);
    await expect(stop).toBeInViewport({ ratio: 1 });
  }
  await page.evaluate(() => window.scrollTo(0, 0));
}

/** axe-core WCAG 2.1 A/AA scan: no serious or critical violation. */
export async function expectNoSeriousA11yViolations(page: Page, what: string): Promise<void> {
  const result = await new AxeBuilder({ page })
    .withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'])
    .analyze();
  const serious = result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(' ')) }));
  expect(serious, `axe: ${what}`).toEqual([]);
}

/** A relay process on a fixed port that a test can kill and start again. */
export class RelayProcess {
  readonly port: number;
  readonly output: string[] = [];
  #child: ChildProcessWithoutNullStreams | null = null;
  readonly #args: readonly string[];

  private constructor(port: number, args: readonly string[]) {
    this.port = port;
    this.#args = args;
  }

  static async start(targetPort: number, extraArgs: readonly string[] = []): Promise<RelayProcess> {
    const relay = new RelayProcess(await findFreePort(), [
      '--target',
      `127.0.0.1:${targetPort}`,
      ...extraArgs,
    ]);
    await relay.restart();
    return relay;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/`;
  }

  /** (Re)start on the same port; resolves once it serves the page. */
  async restart(): Promise<void> {
    const child = spawn(
      tsxBin,
      ['apps/relay/src/main.ts', '--listen', `127.0.0.1:${this.port}`, ...this.#args],
      // Its own process group: tsx runs the relay in a child process, and a kill must reach both.
      { cwd: repoRoot, stdio: ['pipe', 'pipe', 'pipe'], detached: true },
    );
    this.#child = child;
    const ready = relayReady(child, this.output, 30_000);
    if (!(await ready)) throw new Error(`relay did not start:\n${this.output.join('\n')}`);
    this.output.length = 0;
  }

  /** Kill it at once (as a crash or a network cut would). */
  async kill(): Promise<void> {
    const child = this.#child;
    this.#child = null;
    if (child === null || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    else child.kill('SIGKILL');
    await exited;
  }
}

const VSC = { Init: 1, Error: 2, ReaderAdd: 3, ReaderRemove: 4, ATR: 5, CardRemove: 6, APDU: 7 };

function vscMessage(type: number, readerId: number, payload: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + payload.length);
  out.writeUInt32BE(type >>> 0, 0);
  out.writeUInt32BE(readerId >>> 0, 4);
  out.writeUInt32BE(payload.length, 8);
  Buffer.from(payload).copy(out, 12);
  return out;
}

/**
 * A stand-in for QEMU's ccid-card-passthru chardev: answers Init and acknowledges control
 * messages as QEMU does (vscard-protocol.md §3), and lets the test send guest commands once
 * the card's ATR arrived. One connection at a time.
 */
export class FakeVm {
  readonly server: net.Server;
  #socket: net.Socket | null = null;
  #rest = Buffer.alloc(0);
  #hasAtr = false;
  #answers: ((apdu: Buffer) => void)[] = [];
  #atrWaiters: (() => void)[] = [];
  readonly #isRefusingAtr: boolean;
  /** Replies held back (see hold()), in order. */
  #held: (() => void)[] | null;

  private constructor(server: net.Server, opts: { isRefusingAtr: boolean; isHolding: boolean }) {
    this.server = server;
    this.#isRefusingAtr = opts.isRefusingAtr;
    this.#held = opts.isHolding ? [] : null;
  }

  /**
   * @param opts.isRefusingAtr answer every ATR with VSC_Error code 1, as QEMU does for one it rejects.
   * @param opts.isHolding start with replies held back (a VM slow to answer), until release().
   */
  static async start(opts: { isRefusingAtr?: boolean; isHolding?: boolean } = {}): Promise<FakeVm> {
    const server = net.createServer();
    const vm = new FakeVm(server, {
      isRefusingAtr: opts.isRefusingAtr ?? false,
      isHolding: opts.isHolding ?? false,
    });
    server.on('connection', (s) => vm.#accept(s));
    await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
    return vm;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  #accept(socket: net.Socket): void {
    this.#socket?.destroy();
    this.#socket = socket;
    this.#rest = Buffer.alloc(0);
    this.#hasAtr = false;
    socket.setNoDelay(true);
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      this.#rest = Buffer.concat([this.#rest, chunk]);
      while (this.#rest.length >= 12) {
        const length = this.#rest.readUInt32BE(8);
        if (this.#rest.length < 12 + length) break;
        const type = this.#rest.readUInt32BE(0);
        const readerId = this.#rest.readUInt32BE(4);
        const payload = Buffer.from(this.#rest.subarray(12, 12 + length));
        this.#rest = this.#rest.subarray(12 + length);
        this.#onMessage(socket, type, readerId, payload);
      }
    });
  }

  /** Hold back every reply from now on (Init, acknowledgements) until release(). */
  hold(): void {
    this.#held ??= [];
  }

  /** Send the replies held back, and answer at once again. */
  release(): void {
    const held = this.#held ?? [];
    this.#held = null;
    for (const reply of held) reply();
  }

  #onMessage(socket: net.Socket, type: number, readerId: number, payload: Buffer): void {
    if (this.#held !== null && type !== VSC.APDU) {
      this.#held.push(() => this.#reply(socket, type, readerId, payload));
      return;
    }
    this.#reply(socket, type, readerId, payload);
  }

  #reply(socket: net.Socket, type: number, readerId: number, payload: Buffer): void {
    if (socket.destroyed) return;
    if (type === VSC.Init) {
      socket.write(
        vscMessage(VSC.Init, 0xffffffff, Buffer.from('565343440000000200000000', 'hex')),
      );
    } else if (type === VSC.ReaderAdd || type === VSC.ReaderRemove || type === VSC.CardRemove) {
      socket.write(vscMessage(VSC.Error, type === VSC.ReaderAdd ? 0 : readerId, Buffer.alloc(4)));
    } else if (type === VSC.ATR) {
      const code = Buffer.alloc(4);
      if (this.#isRefusingAtr) code.writeUInt32BE(1, 0);
      socket.write(vscMessage(VSC.Error, readerId, code));
      this.#hasAtr = true;
      for (const w of this.#atrWaiters.splice(0)) w();
    } else if (type === VSC.APDU) {
      this.#answers.shift()?.(payload);
    }
  }

  /** Resolves once a card's ATR reached the VM. */
  waitForCard(): Promise<void> {
    if (this.#hasAtr) return Promise.resolve();
    return new Promise((resolve) => this.#atrWaiters.push(resolve));
  }

  /** Send one guest command (hex) and resolve with the card's answer. */
  async send(apduHex: string): Promise<Buffer> {
    const socket = this.#socket;
    if (socket === null) throw new Error('fake VM: no connection');
    const answer = new Promise<Buffer>((resolve) => this.#answers.push(resolve));
    socket.write(vscMessage(VSC.APDU, 0, Buffer.from(apduHex.replace(/\s+/g, ''), 'hex')));
    return answer;
  }

  /**
   * Send one guest command the way QEMU does on a chardev without nodelay=on under Nagle: the
   * header first, the payload `stallMs` later (issue 11 §4). Resolves with the card's answer.
   */
  async sendStalled(apduHex: string, stallMs: number): Promise<Buffer> {
    const socket = this.#socket;
    if (socket === null) throw new Error('fake VM: no connection');
    const answer = new Promise<Buffer>((resolve) => this.#answers.push(resolve));
    const message = vscMessage(VSC.APDU, 0, Buffer.from(apduHex.replace(/\s+/g, ''), 'hex'));
    socket.write(message.subarray(0, 12));
    await new Promise((resolve) => setTimeout(resolve, stallMs));
    socket.write(message.subarray(12));
    return answer;
  }

  /** The VM goes away: its connection is cut and it refuses new ones. */
  async stop(): Promise<void> {
    this.#socket?.destroy();
    this.#socket = null;
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** A fresh HMAC secret file for a relay that requires tokens. */
export async function writeSecret(testInfo: TestInfo): Promise<{ file: string; secret: Buffer }> {
  const file = testInfo.outputPath('token-secret');
  const text = randomBytes(48).toString('base64');
  await writeFile(file, text, { mode: 0o600 });
  return { file, secret: Buffer.from(text, 'utf8') };
}

/** A token signed with `secret`, for `targetId`, minted `ageSeconds` ago with `ttlSeconds`. */
export function signedToken(opts: {
  secret: Buffer;
  targetId: string;
  ttlSeconds: number;
  ageSeconds?: number;
}): string {
  return mintSignedToken({
    secret: new Uint8Array(opts.secret),
    targetId: opts.targetId,
    ttlSeconds: opts.ttlSeconds,
    nowMs: Date.now() - (opts.ageSeconds ?? 0) * 1000,
  });
}

/** A relay config file naming the VM `targetId` (so a token can name it). */
export async function writeTargetsConfig(
  testInfo: TestInfo,
  targetId: string,
  targetPort: number,
): Promise<string> {
  const file = testInfo.outputPath('relay-config.json');
  await writeFile(
    file,
    JSON.stringify({ targets: { [targetId]: `127.0.0.1:${targetPort}` }, defaultTarget: targetId }),
  );
  return file;
}
