/**
 * CardBridge end to end below the relay: the real CCID driver (@cardlend/ccid/webusb) on
 * the card simulator's USBDevice (@cardlend/card-sim), lent to the QEMU-like VSCard host
 * double over a real `ws` server.
 */
import { openReader } from '@cardlend/ccid/webusb';
import type { CcidReader } from '@cardlend/ccid/webusb';
import {
  createPivDemoCard,
  createT0Card,
  createT1Card,
  readerProfiles,
  SimulatedReader,
} from '@cardlend/card-sim';
import { toQemuT0CompatibleAtr } from '@cardlend/vscard';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { WebSocket } from 'ws';
import type { ApduLogEntry } from '../src/apdu-log.ts';
import { toExportableLog } from '../src/apdu-log.ts';
import { CardBridge } from '../src/card-bridge.ts';
import type { BridgeOptions, BridgeState } from '../src/card-bridge.ts';
import { makeCard } from './helpers/cards.ts';
import { toHexString, VscardHostDouble } from './helpers/vscard-host.ts';
import type { GuestResult } from './helpers/vscard-host.ts';

let host: VscardHostDouble;
let sim: SimulatedReader;
let reader: CcidReader | undefined;
const bridges: CardBridge[] = [];

/** The scripted card application (PIN, 1000-byte file) on a simulated T=1-only card. */
const t1Card = (fileLength = 1000): ReturnType<typeof createT1Card> => {
  const app = makeCard({ fileLength });
  return createT1Card({ process: (apdu) => app.process(apdu), ifsc: 254 });
};

beforeEach(async () => {
  host = await VscardHostDouble.start();
  sim = new SimulatedReader({ profile: readerProfiles.extendedApdu });
});

afterEach(async () => {
  for (const b of bridges.splice(0)) await b.stop();
  await reader?.close().catch(() => undefined);
  await host.close();
});

async function lend(
  extra: Partial<BridgeOptions> = {},
): Promise<{ bridge: CardBridge; apdus: ApduLogEntry[] }> {
  // Node is not a browser: nothing blocks the smart-card class here (the web app keeps the default).
  reader = await openReader(sim.device, { isBrowserBlockingProtectedClasses: false });
  const bridge = new CardBridge({
    reader,
    relayUrl: host.url,
    createWebSocket: (url, protocols) => new WebSocket(url, protocols),
    reconnect: { initialDelayMs: 20, maxDelayMs: 40, maxAttempts: 5 },
    random: () => 0,
    ackTimeoutMs: 1000,
    ...extra,
  });
  bridges.push(bridge);
  const apdus: ApduLogEntry[] = [];
  bridge.onApdu((e) => apdus.push(e));
  await bridge.start();
  return { bridge, apdus };
}

function untilState(
  bridge: CardBridge,
  check: (s: BridgeState) => boolean,
  what: string,
): Promise<BridgeState> {
  if (check(bridge.state)) return Promise.resolve(bridge.state);
  return new Promise((resolve, reject) => {
    const t = setTimeout(
      () => reject(new Error(`timed out waiting for ${what}; ${JSON.stringify(bridge.state)}`)),
      5000,
    );
    const off = bridge.onState((s) => {
      if (check(s)) {
        clearTimeout(t);
        off();
        resolve(s);
      }
    });
  });
}

const answerHex = (r: GuestResult): string => (r.kind === 'answer' ? toHexString(r.bytes) : r.kind);

describe('CardBridge on the card simulator and the CCID driver', () => {
  it('lends a T=1-only card as T=0-compatible, answers commands in order, redacts the PIN', async () => {
    const card = t1Card();
    sim.insertCard(card);
    const { bridge, apdus } = await lend();
    await untilState(bridge, (s) => s.card?.vmStatus === 'accepted', 'ATR accepted');
    expect(bridge.state.card?.protocol).toBe(1);
    expect(toHexString(host.atr ?? new Uint8Array())).toBe(
      toHexString(toQemuT0CompatibleAtr(card.atr)),
    );
    const results = await Promise.all([
      host.guestCommand('00A4040005A000000308'),
      host.guestCommand('0020008008313233343536FFFF'),
      host.guestCommand('00CA7F6800'),
    ]);
    expect(results.map(answerHex)).toEqual(['9000', '9000', '01029000']);
    expect(apdus.map((e) => e.name)).toEqual(['SELECT', 'VERIFY', 'GET DATA']);
    expect(apdus[1]).toMatchObject({ command: null, isRedacted: true });
    expect(JSON.stringify(toExportableLog(apdus))).not.toContain('313233343536');
  });

  it('serves a 1000-byte answer through 61xx / GET RESPONSE', async () => {
    sim.insertCard(t1Card(1000));
    const { bridge } = await lend();
    await untilState(bridge, (s) => s.card?.vmStatus === 'accepted', 'accepted');
    const data: number[] = [];
    let r = await host.guestCommand('00B00000000000');
    for (;;) {
      if (r.kind !== 'answer') throw new Error(r.kind);
      data.push(...r.bytes.subarray(0, -2));
      if (r.bytes[r.bytes.length - 2] !== 0x61) break;
      r = await host.guestCommand(Uint8Array.of(0, 0xc0, 0, 0, r.bytes[r.bytes.length - 1] ?? 0));
    }
    expect(toHexString(r.kind === 'answer' ? r.bytes.subarray(-2) : new Uint8Array())).toBe('9000');
    expect(data).toEqual(Array.from({ length: 1000 }, (_, i) => i & 0xff));
  });

  it('removal and re-insertion reach the VM as CardRemove and a new ATR', async () => {
    sim.insertCard(createT0Card());
    const { bridge } = await lend();
    await untilState(bridge, (s) => s.card?.vmStatus === 'accepted', 'accepted');
    sim.removeCard();
    await host.until(() => host.received('CardRemove').length === 1, 'CardRemove');
    await untilState(bridge, (s) => s.card === null, 'card gone');
    // QEMU would not forward this one (empty slot); if it does, the guest still gets an answer.
    expect(await host.guestCommand('00A4040000')).toEqual({ kind: 'failed' });
    sim.insertCard(createT0Card());
    await untilState(bridge, (s) => s.card?.vmStatus === 'accepted', 'accepted again');
    // 'Error' = the session's VSC_Error answer to the command sent while the slot was empty.
    expect(host.types()).toEqual(['Init', 'ReaderAdd', 'ATR', 'CardRemove', 'Error', 'ATR']);
    expect(answerHex(await host.guestCommand('00A4040000'))).toBe('9000');
  });

  it('reader unplugged: CardRemove + ReaderRemove and a clear reason', async () => {
    sim.insertCard(createT0Card());
    const { bridge } = await lend();
    await untilState(bridge, (s) => s.card?.vmStatus === 'accepted', 'accepted');
    sim.unplug();
    const s = await untilState(bridge, (x) => x.link === 'stopped', 'stopped');
    expect(s.error?.code).toBe('BRIDGE_READER_GONE');
    expect(host.types()).toEqual(['Init', 'ReaderAdd', 'ATR', 'CardRemove', 'ReaderRemove']);
  });

  it('stop() sends CardRemove and ReaderRemove before closing, and reconnect re-announces', async () => {
    sim.insertCard(createT0Card());
    const { bridge } = await lend();
    await untilState(bridge, (s) => s.card?.vmStatus === 'accepted', 'accepted');
    host.terminateClient();
    expect(await host.secondAnnouncement()).toEqual(['Init', 'ReaderAdd', 'ATR']);
    await untilState(
      bridge,
      (s) => s.link === 'lent' && s.card?.vmStatus === 'accepted',
      'lent again',
    );
    await bridge.stop();
    expect(host.types(1)).toEqual(['Init', 'ReaderAdd', 'ATR', 'CardRemove', 'ReaderRemove']);
    expect(bridge.state.link).toBe('stopped');
  });

  it('lends the PIV demo card: PIN redacted, the certificate through both 61xx paths', async () => {
    // T=1 only (like a YubiKey): extended APDUs reach the card; the VM sees the T=0-compatible ATR.
    const piv = await createPivDemoCard({ protocols: [1] });
    sim.insertCard(piv);
    const { bridge, apdus } = await lend();
    await untilState(bridge, (s) => s.card?.vmStatus === 'accepted', 'accepted');
    expect(answerHex(await host.guestCommand('00A4040009A00000030800001000'))).toMatch(/9000$/);
    expect(answerHex(await host.guestCommand('0020008008313233343536FFFF'))).toBe('9000');
    expect(piv.isPinVerified).toBe(true);

    /** Reads a whole answer the way OpenSC does: follow 61xx with GET RESPONSE. */
    const readAll = async (cmd: string): Promise<{ data: string; sw: string }> => {
      let data = '';
      let r = await host.guestCommand(cmd);
      for (;;) {
        if (r.kind !== 'answer') throw new Error(r.kind);
        const hex = toHexString(r.bytes);
        data += hex.slice(0, -4);
        if (!hex.slice(-4).startsWith('61')) return { data, sw: hex.slice(-4) };
        r = await host.guestCommand(`00C00000${hex.slice(-2)}`);
      }
    };
    const certHex = toHexString(piv.certificateDer);
    expect(piv.certificateDer.length).toBeGreaterThan(374);

    // Extended Le: the card answers everything at once; the bridge splits it for QEMU 7.2.
    const before = apdus.length;
    const ext = await readAll('00CB3FFF0000055C035FC1050000');
    expect(ext.sw).toBe('9000');
    expect(ext.data).toContain(certHex);
    const extEntries = apdus.slice(before);
    expect(extEntries[0]?.answeredBy).toBe('card');
    expect(
      extEntries
        .slice(1)
        .every((e) => e.name === 'GET RESPONSE' && e.answeredBy === 'bridge-buffer'),
    ).toBe(true);

    // Short Le: the card chains with its own 61xx; GET RESPONSE goes to the card.
    const mid = apdus.length;
    const short = await readAll('00CB3FFF055C035FC10500');
    expect(short).toEqual(ext);
    expect(apdus.slice(mid).every((e) => e.answeredBy === 'card')).toBe(true);

    expect(host.received('APDU').every((m) => m.type === 'APDU' && m.apdu.length <= 374)).toBe(
      true,
    );
    expect(JSON.stringify(toExportableLog(apdus))).not.toContain('313233343536');
  });

  it('card pulled while the card is working on a command: the VM gets the removal, no stale answer', async () => {
    let release: () => void = () => undefined;
    let isWorking = false;
    const app = makeCard();
    const card = createT1Card({
      process: async (apdu) => {
        if (apdu[1] === 0xca) {
          isWorking = true;
          await new Promise<void>((r) => (release = r));
        }
        return app.process(apdu);
      },
    });
    sim.insertCard(card);
    const { bridge, apdus } = await lend();
    await untilState(bridge, (s) => s.card?.vmStatus === 'accepted', 'accepted');
    const pending = host.guestCommand('00CA7F6800');
    await vi.waitFor(() => expect(isWorking).toBe(true));
    sim.removeCard();
    expect(await pending).toEqual({ kind: 'flushed' });
    release();
    await untilState(bridge, (s) => s.card === null, 'card gone');
    await vi.waitFor(() => expect(apdus).toHaveLength(1));
    expect(apdus[0]).toMatchObject({ name: 'GET DATA', answeredBy: 'bridge-error' });
    expect(host.received('APDU')).toHaveLength(0);
    sim.insertCard(createT0Card());
    await untilState(bridge, (s) => s.card?.vmStatus === 'accepted', 'accepted again');
    expect(answerHex(await host.guestCommand('00A4040000'))).toBe('9000');
  });
});
