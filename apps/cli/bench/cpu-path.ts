/**
 * The CLI's own CPU per guest command, in one process and without I/O: `lendWithBridge` (the
 * code `cardlend lend` runs) over an in-memory WebSocket that plays the VM and a reader that
 * answers at once. What is left per APDU is the CLI's JavaScript: VSCard decoding and
 * encoding, the lending machine, the reader queue, the APDU log and its output line.
 *
 *   npx tsx bench/cpu-path.ts [--count 20000] [--text]    (no root, no pcscd)
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { BridgeWebSocket } from '@cardlend/bridge';
import { decodeMessage, encodeMessage, RELAY_SUBPROTOCOL } from '@cardlend/vscard';
import type { VscardMessage } from '@cardlend/vscard';
import type { LendPlan } from '../src/args.ts';
import { lendWithBridge } from '../src/lend-session.ts';
import type { CliDeps, OpenedReader } from '../src/ports.ts';
import { vmInit } from '../test/helpers/fake-vm.ts';
import { nowUs } from './stats.ts';

/** A T=1-only ATR, like the bench card's (the CLI announces a T=0-compatible one). */
const ATR = Uint8Array.from([
  0x3b, 0x8a, 0x80, 0x01, 0x80, 0x31, 0x80, 0x73, 0xff, 0, 0, 0x90, 0, 0x5d,
]);
const APDU = Uint8Array.from([0x80, 0x30, 0, 0, 16, ...Array(16).keys(), 16]);
const ANSWER = Uint8Array.from([...Array(16).keys(), 0x90, 0x00]);

/** The VM end of an in-memory WebSocket: acknowledges like QEMU, reports guest answers. */
class MemoryVm implements BridgeWebSocket {
  binaryType = 'arraybuffer';
  readyState = 0;
  readonly protocol = RELAY_SUBPROTOCOL;
  onAtr: (() => void) | null = null;
  onAnswer: (() => void) | null = null;
  readonly #listeners = new Map<string, ((e: never) => void)[]>();

  constructor() {
    setImmediate(() => {
      this.readyState = 1;
      this.#fire('open', {});
    });
  }

  addEventListener(type: string, listener: (e: never) => void): void {
    this.#listeners.set(type, [...(this.#listeners.get(type) ?? []), listener]);
  }

  /** A guest command from the VM. */
  command(apdu: Uint8Array): void {
    this.#deliver({ type: 'APDU', readerId: 0, apdu });
  }

  send(data: Uint8Array): void {
    const m = decodeMessage(data, { errorCodeByteOrder: 'le' });
    if (m.type === 'APDU') this.onAnswer?.();
    else this.#deliver(m.type === 'Init' ? vmInit() : { type: 'Error', readerId: 0, code: 0 });
    if (m.type === 'ATR') this.onAtr?.();
  }

  close(): void {
    this.readyState = 3;
    setImmediate(() => this.#fire('close', { code: 1000, reason: '' }));
  }

  #deliver(m: VscardMessage): void {
    const bytes = encodeMessage(m);
    // ws hands the bridge a fresh ArrayBuffer per message (binaryType 'arraybuffer').
    queueMicrotask(() => this.#fire('message', { data: bytes.slice().buffer }));
  }

  #fire(type: string, e: unknown): void {
    for (const l of this.#listeners.get(type) ?? []) l(e as never);
  }
}

const instantReader: OpenedReader = {
  info: { productName: 'bench reader' },
  getSlotStatus: () => Promise.resolve('inactive'),
  powerOn: () => Promise.resolve({ atr: ATR, protocol: 1 }),
  powerOff: () => Promise.resolve(),
  transmit: () => Promise.resolve(ANSWER.slice()),
  onEvent: () => () => undefined,
  close: () => Promise.resolve(),
};

/** µs of CLI code per guest command (after `warmup` unmeasured ones), with the JSON or text log. */
export async function cliCodePerApdu(count: number, json: boolean, warmup = 2000): Promise<number> {
  let vm: MemoryVm | null = null;
  const deps: CliDeps = {
    readers: () => Promise.reject(new Error('not used')),
    createWebSocket: () => (vm = new MemoryVm()),
    output: { out: () => undefined, err: () => undefined },
    prompter: null,
    signals: { onStop: () => () => undefined },
    now: () => Date.now(),
    os: 'linux',
  };
  const plan: LendPlan = {
    kind: 'lend',
    target: { relayUrl: 'ws://127.0.0.1:1/vscard', token: '', tokenSource: 'none' },
    readerQuery: null,
    yes: true,
    json,
    t0Compat: 'auto',
  };
  const stop = { isRequested: false, onStop: null as (() => void) | null };
  const ended = lendWithBridge(plan, instantReader, 'bench reader', deps, stop, () => () => {});
  await new Promise<void>((resolve) => {
    const wait = (): void => (vm === null ? void setImmediate(wait) : void (vm.onAtr = resolve));
    wait();
  });
  const lent = vm as MemoryVm | null;
  if (lent === null) throw new Error('the CLI opened no WebSocket');
  const exchange = (): Promise<void> =>
    new Promise((resolve) => {
      lent.onAnswer = resolve;
      lent.command(APDU.slice());
    });
  for (let i = 0; i < warmup; i++) await exchange();
  const started = nowUs();
  for (let i = 0; i < count; i++) await exchange();
  const perApdu = (nowUs() - started) / count;
  stop.onStop?.();
  await ended;
  return perApdu;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({
    args: process.argv.slice(2).filter((a) => a !== '--'),
    options: { count: { type: 'string' }, text: { type: 'boolean' } },
  });
  const json = values.text !== true;
  const us = await cliCodePerApdu(Number(values.count ?? 20_000), json);
  process.stdout.write(
    `CLI code per guest command (in-process, no I/O, ${json ? 'JSON' : 'text'} log): ${us.toFixed(1)} µs\n`,
  );
}
