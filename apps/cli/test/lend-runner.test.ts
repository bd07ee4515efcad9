/**
 * The command runner in process with fake ports: the terminal paths a child process test
 * cannot reach (no TTY there) — the reader question, the consent prompt, answers and
 * interruptions — and the service failures. Real CardBridge; its relay is unreachable.
 */
import type { BridgeReader, BridgeWebSocket } from '@cardlend/bridge';
import { explain } from '@cardlend/problems';
import { describe, expect, it } from 'vitest';
import { runCli } from '../src/main.ts';
import type { CliDeps, OpenedReader, Prompter, ReaderService } from '../src/ports.ts';
import type { ReaderSummary } from '../src/reader-choice.ts';

const ATR = Uint8Array.from(Buffer.from('3B8C8001636172646C656E642050495675', 'hex'));
const token = `v1.${Buffer.from(JSON.stringify({ tid: 'vm-42', exp: 2_000_000_000, jti: 'j' })).toString('base64url')}.sig`;
const LINK = `https://relay.example/#token=${token}`;

const READER_A: ReaderSummary = { name: 'Reader A 00 00', state: 'present', atr: ATR };
const READER_B: ReaderSummary = { name: 'Reader B 00 00', state: 'present', atr: ATR };

function fakeReader(): OpenedReader & { closed: boolean } {
  const r: BridgeReader = {
    getSlotStatus: async () => 'absent',
    powerOn: async () => ({ atr: ATR, protocol: 1 }),
    powerOff: async () => undefined,
    transmit: async () => Uint8Array.of(0x90, 0),
    onEvent: () => () => undefined,
  };
  const opened = {
    ...r,
    closed: false,
    async close() {
      opened.closed = true;
    },
  };
  return opened;
}

/** A WebSocket to a relay that cannot be reached: it closes with 1006 without opening. */
function unreachableSocket(): BridgeWebSocket {
  const socket = {
    binaryType: 'arraybuffer',
    readyState: 0,
    protocol: '',
    send: () => undefined,
    close: () => undefined,
    addEventListener: ((type: string, l: (e: { code: number; reason: string }) => void) => {
      if (type !== 'close') return;
      setTimeout(() => {
        socket.readyState = 3;
        l({ code: 1006, reason: '' });
      }, 1);
    }) as BridgeWebSocket['addEventListener'],
  };
  return socket;
}

interface Harness {
  deps: CliDeps;
  out: string[];
  err: string[];
  questions: string[];
  opened: string[];
  fireSignal: (name: string) => void;
  readers: ReturnType<typeof fakeReader>[];
}

function harness(opts: {
  readers?: ReaderSummary[];
  answers?: (string | null | 'abort')[];
  isTerminal?: boolean;
  serviceError?: unknown;
  onAsk?: (h: Harness) => void;
}): Harness {
  const stopHandlers = new Set<(s: string) => void>();
  const answers = [...(opts.answers ?? [])];
  const h: Harness = {
    out: [],
    err: [],
    questions: [],
    opened: [],
    readers: [],
    fireSignal: (name) => stopHandlers.forEach((f) => f(name)),
    deps: undefined as unknown as CliDeps,
  };
  const prompter: Prompter = {
    ask: async (text, signal) => {
      h.questions.push(text);
      opts.onAsk?.(h);
      const a = answers.shift() ?? null;
      if (a === 'abort') {
        h.fireSignal('SIGTERM');
        return signal?.aborted === true ? null : 'y';
      }
      return a;
    },
  };
  const service: ReaderService = {
    list: async () => opts.readers ?? [READER_A],
    open: async (name) => {
      h.opened.push(name);
      const r = fakeReader();
      h.readers.push(r);
      return r;
    },
    close: async () => undefined,
    onServiceEvent: () => () => undefined,
  };
  h.deps = {
    readers: async () => {
      if (opts.serviceError !== undefined) throw opts.serviceError;
      return service;
    },
    createWebSocket: () => {
      // Lending started (the bridge retries an unreachable relay); the person stops it.
      setTimeout(() => h.fireSignal('SIGINT'), 20);
      return unreachableSocket();
    },
    output: { out: (t) => void h.out.push(t), err: (t) => void h.err.push(t) },
    prompter: opts.isTerminal === false ? null : prompter,
    signals: {
      onStop: (f) => {
        stopHandlers.add(f);
        return () => stopHandlers.delete(f);
      },
    },
    now: () => 1_900_000_000_000,
    os: 'linux',
  };
  return h;
}

describe('lend in a terminal', () => {
  it('asks for consent naming reader, card and VM; "y" lends until Ctrl-C, exit 0, reader closed', async () => {
    const h = harness({ answers: ['y'] });
    expect(await runCli(['lend', LINK], h.deps)).toBe(0);
    expect(h.questions).toHaveLength(1);
    expect(h.questions[0]).toContain('reader: Reader A 00 00');
    expect(h.questions[0]).toContain('card:   ATR 3B 8C 80 01');
    expect(h.questions[0]).toContain('to:     VM "vm-42" behind wss://relay.example/vscard');
    expect(h.questions[0]).toMatch(/Lend this card to that VM\? \[y\/N\] $/);
    expect(h.opened).toEqual(['Reader A 00 00']);
    expect(h.out.join('')).toContain('Lending Reader A 00 00 to VM "vm-42"');
    expect(h.readers[0]?.closed).toBe(true);
  });

  it('anything but yes: not lent, exit 4, the reader is never opened', async () => {
    for (const answer of ['n', '', null]) {
      const h = harness({ answers: [answer] });
      expect(await runCli(['lend', LINK], h.deps)).toBe(4);
      expect(h.opened).toEqual([]);
      expect(h.err.join('')).toContain('Not lent: you did not confirm.');
    }
  });

  it('SIGTERM while the question is open: nothing lent, exit 0', async () => {
    const h = harness({ answers: ['abort'] });
    expect(await runCli(['lend', LINK], h.deps)).toBe(0);
    expect(h.opened).toEqual([]);
    expect(h.err.join('')).toContain('Stopped before lending');
  });

  it('two readers with a card: asks which; the answer picks it, then consent names it', async () => {
    const h = harness({ readers: [READER_A, READER_B], answers: ['2', 'yes'] });
    expect(await runCli(['lend', LINK], h.deps)).toBe(0);
    expect(h.questions[0]).toContain('2 readers hold a card. Which reader?');
    expect(h.questions[0]).toContain('  1. Reader A 00 00\n  2. Reader B 00 00');
    expect(h.questions[1]).toContain('reader: Reader B 00 00');
    expect(h.opened).toEqual(['Reader B 00 00']);
  });

  it('an answer that picks no reader: exit 4', async () => {
    const h = harness({ readers: [READER_A, READER_B], answers: ['Reader'] });
    expect(await runCli(['lend', LINK], h.deps)).toBe(4);
    expect(h.err.join('')).toContain('No reader chosen');
  });

  it('--yes skips the question', async () => {
    const h = harness({});
    expect(await runCli(['lend', '--yes', LINK], h.deps)).toBe(0);
    expect(h.questions).toEqual([]);
    expect(h.opened).toEqual(['Reader A 00 00']);
  });
});

describe("service failures in the page's words", () => {
  it('no PC/SC service: exit 1 with the service-down explanation and its reference', async () => {
    const h = harness({
      serviceError: Object.assign(new Error('SCardEstablishContext failed'), {
        code: 'CCID_TRANSFER_FAILED',
        sourceCode: 'SCARD_E_NO_SERVICE',
      }),
    });
    expect(await runCli(['readers'], h.deps)).toBe(1);
    const e = explain({ kind: 'pcsc', code: 'SCARD_E_NO_SERVICE' }, { os: 'linux', client: 'cli' });
    const err = h.err.join('');
    expect(err).toContain(e.title);
    expect(err).toContain(e.cause);
    expect(err).toContain('sudo systemctl start pcscd.socket');
    expect(err).toContain('Reference for your helpdesk: SCARD_E_NO_SERVICE');
  });

  it('no reader at all: exit 4 with the no-readers explanation', async () => {
    const h = harness({ readers: [] });
    expect(await runCli(['lend', '--yes', LINK], h.deps)).toBe(4);
    const e = explain({ kind: 'pcsc', code: 'SCARD_E_NO_READERS_AVAILABLE' }, { client: 'cli' });
    expect(h.err.join('')).toContain(e.title);
  });

  it("a bad link: exit 2 with the page's words for a bad relay address", async () => {
    const h = harness({});
    expect(await runCli(['lend', 'ftp://relay.example/'], h.deps)).toBe(2);
    const e = explain({ kind: 'page', code: 'relay-url-invalid' }, { client: 'cli' });
    expect(h.err.join('')).toContain(e.title);
    expect(h.err.join('')).toContain('ftp://');
  });
});
