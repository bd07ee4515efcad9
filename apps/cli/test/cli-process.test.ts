/**
 * `cardlend` as a real child process against a real PC/SC stack (a test pcscd with vpcd, the
 * PIV demo card plugged in over vpcd) and the real relay (in process), with a fake VM behind
 * the relay (helpers/fake-vm.ts) so these run in seconds. The same command against real QEMU
 * guests: guest-lend.test.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createPivDemoCard, createT0Card } from '@cardlend/card-sim';
import type { PivDemoCard } from '@cardlend/card-sim';
import { startPcscd, waitForCard } from '@cardlend/pcsc/testing';
import type { Pcscd, VpcdCard } from '@cardlend/pcsc/testing';
import { explain } from '@cardlend/problems';
import { defaultConfig, startRelayServer } from '@cardlend/relay';
import type { RelayServer } from '@cardlend/relay';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { holdCard } from './helpers/card-holder.ts';
import { ensureBundle, runCliToEnd, spawnCli } from './helpers/cli-process.ts';
import type { CliEvent, CliRun } from './helpers/cli-process.ts';
import { FakeVm } from './helpers/fake-vm.ts';
import { mintTestToken, testSecret } from './helpers/tokens.ts';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex').toUpperCase();
/** SELECT of the PIV application (NIST SP 800-73-4 §3.1.1). */
const SELECT_PIV = hex('00A4040009A00000030800001000');
/** VERIFY of the PIV application PIN 123456 (padded with FF). */
const VERIFY_PIN = hex('0020008008313233343536FFFF');
const PIN_HEX = '313233343536';

let pcscd: Pcscd;
let piv: PivDemoCard;
let pivLink: VpcdCard;
let vm: FakeVm;
let relay: RelayServer;
let staticDir: string;
const secret = testSecret();
const runs: CliRun[] = [];

async function startRelay(): Promise<RelayServer> {
  return startRelayServer({
    config: {
      ...defaultConfig(),
      listen: { host: '127.0.0.1', port: 0 },
      targets: { 'vm-42': { host: '127.0.0.1', port: vm.port } },
      defaultTarget: 'vm-42',
      tokenSecrets: [secret],
      staticDir,
    },
  });
}

const link = (token: string): string => `http://127.0.0.1:${relay.address.port}/#token=${token}`;
/** A link with a fresh token for vm-42. */
const vmLink = (): string => link(mintTestToken(secret, 'vm-42'));
const isLentWithCard = (e: CliEvent): boolean =>
  e.event === 'state' &&
  e['link'] === 'lent' &&
  (e['card'] as { vmStatus?: string } | null)?.vmStatus === 'accepted';

function lend(args: string[]): CliRun {
  const run = spawnCli(['lend', ...args]);
  runs.push(run);
  return run;
}

beforeAll(async () => {
  ensureBundle();
  staticDir = mkdtempSync(path.join(os.tmpdir(), 'cardlend-cli-static-'));
  pcscd = await startPcscd();
  piv = await createPivDemoCard();
  pivLink = await pcscd.insertCard(piv);
  await waitForCard(pcscd.readers[0], 'present');
  vm = await FakeVm.start();
  relay = await startRelay();
}, 120_000);

afterEach(async () => {
  for (const r of runs.splice(0)) {
    if (r.child.exitCode === null) r.child.kill('SIGKILL');
    await r.exit;
  }
  // The relay ends a session after its cleanup with the VM; the next test may lend only then.
  const deadline = Date.now() + 10_000;
  while ((relay.sessions.size > 0 || vm.isConnected) && Date.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 50));
});

afterAll(async () => {
  await relay?.close();
  await vm?.close();
  await pcscd?.stop();
  rmSync(staticDir, { recursive: true, force: true });
});

describe('cardlend readers', () => {
  it('lists each reader with its card state and ATR (text and JSON)', async () => {
    const text = await runCliToEnd(['readers']);
    expect(text.code, text.stderr).toBe(0);
    const lines = text.stdout.split('\n').filter((l) => l !== '');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^Virtual PCD 00 00 {2}card {2}ATR /);
    expect(lines[0]?.replace(/.*ATR /, '').replaceAll(' ', '')).toBe(toHex(piv.atr));
    expect(lines[1]).toBe('Virtual PCD 00 01  no card');

    const json = await runCliToEnd(['readers', '--json']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({
      readers: [
        { name: 'Virtual PCD 00 00', state: 'present', atr: toHex(piv.atr) },
        { name: 'Virtual PCD 00 01', state: 'empty', atr: null },
      ],
    });
  });
});

describe('cardlend lend: before lending', () => {
  it('without a terminal and without --yes it refuses and lends nothing', async () => {
    const before = vm.received.length;
    const r = await runCliToEnd(['lend', vmLink()]);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/no terminal to ask in.*--yes/);
    expect(vm.received.length).toBe(before);
  });

  it('--reader that matches no reader: refused, listing the readers', async () => {
    const r = await runCliToEnd(['lend', '--yes', '--reader', 'gemalto', link('x')]);
    expect(r.code).toBe(4);
    expect(r.stderr).toContain('No reader\'s name contains "gemalto"');
    expect(r.stderr).toContain('Virtual PCD 00 00 (card)');
    expect(r.stderr).toContain('Virtual PCD 00 01 (empty)');
  });
});

describe('cardlend lend --yes --json', () => {
  it('lends the PIV card: guest commands reach the card, the PIN is never printed; SIGTERM removes card and reader, exit 0', async () => {
    const token = mintTestToken(secret, 'vm-42');
    const run = lend(['--yes', '--json', link(token)]);
    const reader = await run.waitForEvent((e) => e.event === 'reader', 'reader event');
    expect(reader).toMatchObject({
      name: 'Virtual PCD 00 00',
      atr: toHex(piv.atr),
      target: 'vm-42',
      relayUrl: `ws://127.0.0.1:${relay.address.port}/vscard`,
    });
    await run.waitForEvent(isLentWithCard, 'card accepted by the VM');
    expect(vm.atr).not.toBeNull();

    const select = await vm.guestCommand(SELECT_PIV);
    expect(toHex(select ?? new Uint8Array()).slice(-4)).toBe('9000');
    const verify = await vm.guestCommand(VERIFY_PIN);
    expect(toHex(verify ?? new Uint8Array())).toBe('9000');
    const verifyEntry = await run.waitForEvent(
      (e) => e.event === 'apdu' && e['name'] === 'VERIFY',
      'VERIFY in the log',
    );
    expect(verifyEntry).toMatchObject({ isRedacted: true, command: null, header: '00200080' });
    expect(run.stdout.join('\n')).not.toContain(PIN_HEX);
    expect(run.stderr.join('\n')).not.toContain(PIN_HEX);

    const seen = vm.received.length;
    run.child.kill('SIGTERM');
    const { code } = await run.exit;
    expect(code, run.transcript()).toBe(0);
    // The CLI's own CardRemove + ReaderRemove (the relay's session cleanup may repeat them).
    expect(vm.received.slice(seen, seen + 2).map((m) => m.type)).toEqual([
      'CardRemove',
      'ReaderRemove',
    ]);
    expect(vm.atr).toBeNull();
    expect(run.events.at(-1)).toMatchObject({ event: 'end', exitCode: 0 });
  }, 60_000);

  it('card pulled → CardRemove; inserted again → ATR; SIGINT → clean exit 0', async () => {
    const run = lend(['--yes', '--json', vmLink()]);
    await run.waitForEvent(isLentWithCard, 'card accepted');
    const before = vm.received.length;
    await pivLink.remove();
    await vm.until(
      () => vm.received.slice(before).some((m) => m.type === 'CardRemove'),
      'CardRemove after the card was pulled',
    );
    expect(vm.atr).toBeNull();
    pivLink = await pcscd.insertCard(piv);
    await vm.until(() => vm.atr !== null, 'ATR after the card was inserted again');
    expect(toHex(vm.atr ?? new Uint8Array())).toBe(toHex(piv.atr));
    run.child.kill('SIGINT');
    expect((await run.exit).code, run.transcript()).toBe(0);
    expect(vm.types()).toContain('ReaderRemove');
    expect(vm.atr).toBeNull();
  }, 60_000);
});

describe('a card another program holds', () => {
  /** The `powerOnRetry` of a JSON state event, or null. */
  const retryOf = (e: CliEvent) =>
    e['powerOnRetry'] as {
      attempt: number;
      nextAtMs: number;
      error: { code: string; source?: unknown };
    } | null;

  it('retries the power on 3 times, then lends the reader without the card and says why; exit 0 on SIGTERM', async () => {
    const holder = await holdCard(pcscd.readers[0]); // exclusive, like a lent card
    try {
      const run = lend(['--yes', '--json', '--reader', '00 00', vmLink()]);
      const busy = await run.waitForEvent(
        (e) =>
          e.event === 'state' &&
          (e['error'] as { code?: string } | null)?.code === 'BRIDGE_READER_BUSY',
        'the busy reader reported',
      );
      expect(busy['card']).toBeNull();
      expect(busy['link']).toBe('lent');
      expect(busy['powerOnRetry']).toBeNull();
      // Before it, the bridge tried again after 0.5, 1 and 2 s, the error held back meanwhile.
      const retries = run.events.filter((e) => e.event === 'state' && retryOf(e) !== null);
      expect(new Set(retries.map((e) => retryOf(e)?.attempt))).toEqual(new Set([1, 2, 3]));
      for (const e of retries) {
        expect(e['error']).toBeNull();
        expect(retryOf(e)?.error).toMatchObject({
          code: 'BRIDGE_READER_BUSY',
          source: { kind: 'pcsc', code: 'SCARD_E_SHARING_VIOLATION' },
        });
      }
      expect(run.events.indexOf(busy)).toBeGreaterThan(run.events.indexOf(retries.at(-1)!));
      const firstAt = retryOf(retries[0]!)?.nextAtMs ?? 0;
      expect((retryOf(retries.at(-1)!)?.nextAtMs ?? 0) - firstAt).toBeGreaterThanOrEqual(3_000);
      run.child.kill('SIGTERM');
      expect((await run.exit).code, run.transcript()).toBe(0);
      await holder.release();
    } finally {
      holder.kill();
    }
  }, 30_000);

  it('says the card is not ready and tries again; lends it once the other program lets go', async () => {
    const holder = await holdCard(pcscd.readers[0]);
    try {
      const run = lend(['--yes', '--reader', '00 00', vmLink()]);
      const inUse = explain(
        { kind: 'pcsc', code: 'SCARD_E_SHARING_VIOLATION' },
        { client: 'cli' },
      ).title;
      const retryLine = `Lent: the VM sees the reader; card not ready (${inUse}, SCARD_E_SHARING_VIOLATION), trying again (1/3) in `;
      await vi.waitFor(() => expect(run.stdout.join('\n'), run.transcript()).toContain(retryLine), {
        timeout: 15_000,
        interval: 50,
      });
      await holder.release();
      await vi.waitFor(
        () =>
          expect(run.stdout.join('\n'), run.transcript()).toContain(
            'Lent: the VM can use the card',
          ),
        { timeout: 15_000, interval: 50 },
      );
      expect(run.stdout.join('\n')).not.toContain('no card in it:');
      run.child.kill('SIGTERM');
      expect((await run.exit).code, run.transcript()).toBe(0);
    } finally {
      holder.kill();
    }
  }, 30_000);
});

describe("refusals: the page's words, non-zero exit", () => {
  const words = (code: number): string[] => {
    const e = explain({ kind: 'relay-close', code }, { client: 'page' });
    return [e.title, e.cause];
  };

  it('a token the relay refuses (4001)', async () => {
    const forged = mintTestToken(testSecret(), 'vm-42');
    const run = lend(['--yes', link(forged)]);
    const { code } = await run.exit;
    expect(code, run.transcript()).toBe(3);
    for (const w of words(4001)) expect(run.stderr.join('\n')).toContain(w);
    expect(run.stderr.join('\n')).toContain('relay close 4001');
  }, 30_000);

  it('a one-time token used twice (4002)', async () => {
    const token = mintTestToken(secret, 'vm-42');
    const first = lend(['--yes', '--json', link(token)]);
    await first.waitForEvent(isLentWithCard, 'first lending');
    first.child.kill('SIGTERM');
    expect((await first.exit).code).toBe(0);
    const second = lend(['--yes', link(token)]);
    expect((await second.exit).code, second.transcript()).toBe(3);
    for (const w of words(4002)) expect(second.stderr.join('\n')).toContain(w);
  }, 60_000);

  it('the VM is already lent a card (4009)', async () => {
    const t0 = await pcscd.insertCard(createT0Card(), { slot: 1 });
    try {
      await waitForCard(pcscd.readers[1], 'present');
      const first = lend(['--yes', '--json', '--reader', '00 00', vmLink()]);
      await first.waitForEvent(isLentWithCard, 'first lending');
      const second = lend(['--yes', '--reader', '00 01', vmLink()]);
      expect((await second.exit).code, second.transcript()).toBe(3);
      for (const w of words(4009)) expect(second.stderr.join('\n')).toContain(w);
      first.child.kill('SIGTERM');
      expect((await first.exit).code).toBe(0);
    } finally {
      await t0.remove();
      // pcscd notices the removal on its own poll: the next test must not see this card.
      await waitForCard(pcscd.readers[1], 'absent');
    }
  }, 60_000);

  it("the VM refuses the card's ATR: stops lending, exit 3", async () => {
    vm.isRefusingAtrs = true;
    try {
      const run = lend(['--yes', vmLink()]);
      expect((await run.exit).code, run.transcript()).toBe(3);
      const e = explain({ kind: 'bridge', code: 'BRIDGE_ATR_REFUSED' }, { client: 'page' });
      expect(run.stderr.join('\n')).toContain(e.title);
      expect(vm.types().at(-1)).toBe('ReaderRemove');
    } finally {
      vm.isRefusingAtrs = false;
    }
  }, 30_000);
});
