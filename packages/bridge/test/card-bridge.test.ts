/**
 * CardBridge against a scripted reader (exact control over timing: holds transmit open so a
 * removal or unplug lands mid-APDU) and the QEMU-like VSCard host double over a real `ws`
 * server. The same paths against the card simulator and the real CCID driver are in
 * card-bridge-sim.test.ts.
 */
import { RelayClose, toQemuT0CompatibleAtr } from '@cardlend/vscard';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ApduLogEntry } from '../src/apdu-log.ts';
import { toExportableLog } from '../src/apdu-log.ts';
import { CardBridge } from '../src/card-bridge.ts';
import type { BridgeLogEvent, BridgeOptions, BridgeState } from '../src/card-bridge.ts';
import { relayWebSocketUrl } from '../src/platform.ts';
import { FAST_WS_BRIDGE_OPTIONS } from './helpers/fast-bridge.ts';
import { CAC_T0_ATR, makeCard, QEMU_REFUSED_ATR, YUBIKEY_ATR } from './helpers/cards.ts';
import { MemorySocket, opensSoon } from './helpers/memory-socket.ts';
import { ScriptedReader } from './helpers/scripted-reader.ts';
import { toHexString, VscardHostDouble } from './helpers/vscard-host.ts';
import type { GuestResult } from './helpers/vscard-host.ts';

let host: VscardHostDouble;
let reader: ScriptedReader;
const bridges: CardBridge[] = [];

beforeEach(async () => {
  host = await VscardHostDouble.start();
  reader = new ScriptedReader();
});

afterEach(async () => {
  reader.release();
  for (const b of bridges.splice(0)) await b.stop();
  await host.close();
});

function makeBridge(extra: Partial<BridgeOptions> = {}): {
  bridge: CardBridge;
  states: BridgeState[];
  apdus: ApduLogEntry[];
} {
  const bridge = new CardBridge({
    reader,
    relayUrl: extra.relayUrl ?? host.url,
    ...FAST_WS_BRIDGE_OPTIONS,
    ...extra,
  });
  bridges.push(bridge);
  const states: BridgeState[] = [];
  const apdus: ApduLogEntry[] = [];
  bridge.onState((s) => states.push(s));
  bridge.onApdu((e) => apdus.push(e));
  return { bridge, states, apdus };
}

function untilState(
  bridge: CardBridge,
  check: (s: BridgeState) => boolean,
  what: string,
  timeoutMs = 3000,
): Promise<BridgeState> {
  if (check(bridge.state)) return Promise.resolve(bridge.state);
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      off();
      reject(new Error(`timed out waiting for ${what}; state ${JSON.stringify(bridge.state)}`));
    }, timeoutMs);
    const off = bridge.onState((s) => {
      if (check(s)) {
        clearTimeout(t);
        off();
        resolve(s);
      }
    });
  });
}

/** Resolves when the bridge logs `message`. */
function untilLog(logs: BridgeLogEvent[], message: string): Promise<void> {
  return vi.waitFor(() => expect(logs.map((l) => l.message)).toContain(message));
}

/** Real timers that count the ones armed and neither fired nor cleared. */
class CountingTimers {
  readonly #live = new Set<ReturnType<typeof setTimeout>>();
  get pending(): number {
    return this.#live.size;
  }
  setTimeout = (cb: () => void, ms: number): unknown => {
    const h = setTimeout(() => {
      this.#live.delete(h);
      cb();
    }, ms);
    this.#live.add(h);
    return h;
  };
  clearTimeout = (h: unknown): void => {
    this.#live.delete(h as ReturnType<typeof setTimeout>);
    clearTimeout(h as ReturnType<typeof setTimeout>);
  };
}
/** A bridge started and lent, with the card accepted by the VM. */
async function lentBridge(
  extra: Partial<BridgeOptions> = {},
): Promise<ReturnType<typeof makeBridge>> {
  const made = makeBridge(extra);
  await made.bridge.start();
  await untilState(made.bridge, (s) => s.card?.vmStatus === 'accepted', 'accepted');
  return made;
}

const answerHex = (r: GuestResult): string => (r.kind === 'answer' ? toHexString(r.bytes) : r.kind);

describe('announcing', () => {
  it('sends Init + ReaderAdd, then the ATR of a present card, and is lent once acked', async () => {
    reader.card = makeCard({ atr: CAC_T0_ATR, protocol: 0 });
    const { bridge } = makeBridge({ token: 'v1.eyJ0aWQiOiJ2bSJ9.abc_DEF-123' });
    await bridge.start();
    await untilState(bridge, (s) => s.card?.vmStatus === 'accepted', 'ATR accepted');
    expect(host.types()).toEqual(['Init', 'ReaderAdd', 'ATR']);
    expect(host.connections[0]?.protocols).toEqual([
      'cardlend.vscard.v1.long-answers', // offered first; this host (an older relay) selects v1
      'cardlend.vscard.v1',
      'cardlend.token.v1.eyJ0aWQiOiJ2bSJ9.abc_DEF-123',
      'cardlend.resume.v1', // understands the relay's resume offer (issue 14 §1)
    ]);
    expect(bridge.state.link).toBe('lent');
    expect(bridge.state.card).toMatchObject({
      protocol: 0,
      isT0Compat: false,
      predictedRefusal: null,
    });
    expect(toHexString(host.atr ?? new Uint8Array())).toBe(toHexString(CAC_T0_ATR));
    const readerAdd = host.received('ReaderAdd')[0];
    expect(readerAdd).toMatchObject({ name: 'Scripted Reader' });
  });

  it('announces a T=1-only card with the T=0-compatible ATR (auto), its own ATR with never', async () => {
    reader.card = makeCard({ atr: YUBIKEY_ATR });
    const { bridge } = makeBridge();
    await bridge.start();
    await untilState(bridge, (s) => s.card?.vmStatus === 'accepted', 'ATR accepted');
    const presented = toQemuT0CompatibleAtr(YUBIKEY_ATR);
    expect(toHexString(host.atr ?? new Uint8Array())).toBe(toHexString(presented));
    expect(toHexString(presented)).toBe('3B0D8073C021C057597562694B6579'); // vector g11
    expect(bridge.state.card).toMatchObject({
      isT0Compat: true,
      atr: YUBIKEY_ATR,
      presentedAtr: presented,
    });
    await bridge.stop();

    const second = makeBridge({ t0Compat: 'never' }).bridge;
    await second.start();
    await untilState(second, (s) => s.card?.vmStatus === 'accepted', 'ATR accepted');
    expect(toHexString(host.atr ?? new Uint8Array())).toBe(toHexString(YUBIKEY_ATR));
  });

  it('waits for a card, then powers it on and announces it', async () => {
    const { bridge } = makeBridge();
    await bridge.start();
    // No card: clear whatever card QEMU may still show from an earlier session (§6 rule 7).
    await host.until(() => host.types().length === 3, 'CardRemove');
    expect(host.types()).toEqual(['Init', 'ReaderAdd', 'CardRemove']);
    expect(bridge.state.card).toBeNull();
    reader.insert(makeCard({ atr: CAC_T0_ATR, protocol: 0 }));
    await untilState(bridge, (s) => s.card?.vmStatus === 'accepted', 'ATR accepted');
    expect(host.types()).toEqual(['Init', 'ReaderAdd', 'CardRemove', 'ATR']);
  });

  it('reports an ATR the VM refused, with the predicted cause, and recovers on the next card', async () => {
    reader.card = makeCard({ atr: QEMU_REFUSED_ATR });
    const { bridge } = makeBridge({ t0Compat: 'never' });
    await bridge.start();
    const s = await untilState(bridge, (x) => x.link === 'refused', 'refused');
    expect(s.error?.code).toBe('BRIDGE_ATR_REFUSED');
    expect(s.error?.message).toMatch(/Likely cause: .+/);
    expect(s.card).toMatchObject({ vmStatus: 'refused' });
    expect(s.card?.predictedRefusal).not.toBeNull();
    expect(host.atr).toBeNull();

    reader.remove();
    await untilState(bridge, (x) => x.link === 'lent' && x.card === null, 'lent without card');
    expect(bridge.state.error).toBeNull();
    reader.insert(makeCard({ atr: CAC_T0_ATR, protocol: 0 }));
    await untilState(bridge, (x) => x.card?.vmStatus === 'accepted', 'accepted');
    expect(bridge.state.link).toBe('lent');
  });

  it('keeps lending the reader when the card is mute, and says it retries', async () => {
    reader.card = makeCard();
    reader.isMute = true;
    const { bridge } = makeBridge();
    await bridge.start();
    // The error itself comes once the retries are used up (power-on-retry.test.ts).
    const isMute = (s: BridgeState): boolean => s.powerOnRetry?.error.code === 'BRIDGE_CARD_MUTE';
    await untilState(bridge, isMute, 'power-on retry after a mute card');
    expect(bridge.state.powerOnRetry?.attempt).toBe(1);
    expect(bridge.state.error).toBeNull();
    expect(bridge.state.link).toBe('lent');
    expect(bridge.state.card).toBeNull();
    expect(host.received('ATR')).toHaveLength(0);
    await host.until(() => host.received('CardRemove').length === 1, 'stale card cleared');
  });
});

describe('guest commands', () => {
  beforeEach(() => {
    reader.card = makeCard({ atr: CAC_T0_ATR, protocol: 0 });
  });

  it('answers strictly in order, one exchange at a time, and logs each', async () => {
    const { apdus } = await lentBridge();
    reader.isHolding = true;
    const results = [
      host.guestCommand('00A4040005A000000308'),
      host.guestCommand('00CA7F6800'),
      host.guestCommand('0001020300'),
    ];
    await vi.waitFor(() => expect(reader.heldCount).toBe(1));
    reader.release();
    // The scripted reader refuses overlapping calls (CCID_BUSY → 6F00): the answers below prove
    // the others waited in the bridge's queue (lending-machine.test.ts checks it step by step).
    expect((await Promise.all(results)).map(answerHex)).toEqual(['9000', '01029000', '6D00']);
    expect(reader.transmitted.map(toHexString)).toEqual([
      '00A4040005A000000308',
      '00CA7F6800',
      '0001020300',
    ]);
    expect(apdus.map((e) => [e.name, e.sw, e.answeredBy])).toEqual([
      ['SELECT', 0x9000, 'card'],
      ['GET DATA', 0x9000, 'card'],
      ['INS 01', 0x6d00, 'card'],
    ]);
    expect(apdus[0]).toMatchObject({
      lc: 5,
      le: null,
      swText: 'Success',
      direction: 'vm-to-card',
      isRedacted: false,
    });
    expect(apdus[1]).toMatchObject({ le: 256, responseDataLength: 2 });
    expect(apdus.every((e) => e.latencyMs >= 0)).toBe(true);
  });

  it('takes the largest guest command QEMU forwards (65526 bytes) to the card', async () => {
    const { bridge } = await lentBridge();
    // Extended case-3 APDU: 7-byte header + 65519 data bytes = 65526 bytes.
    const data = 'AB'.repeat(65519);
    const command = `00DA0000${'00FFEF'}${data}`;
    expect(command.length / 2).toBe(65526);
    const answer = await host.guestCommand(command);
    expect(answerHex(answer)).toMatch(/^[0-9A-F]{4}$/);
    expect(reader.transmitted.map(toHexString)).toEqual([command]);
    expect(bridge.state.link).toBe('lent');
  });

  it('never keeps PIN data in the log, nor in the export', async () => {
    const { apdus } = await lentBridge();
    const pin = '313233343536FFFF';
    expect(answerHex(await host.guestCommand(`0020008008${pin}`))).toBe('9000');
    expect(answerHex(await host.guestCommand('00200080083939393939FFFFFF'))).toBe('63C2');
    expect(answerHex(await host.guestCommand(`0024008010${pin}${pin}`))).toBe('6D00');
    expect(answerHex(await host.guestCommand(`002C008010${pin}${pin}`))).toBe('6D00');
    expect(toHexString(reader.transmitted[0] ?? new Uint8Array())).toBe(`0020008008${pin}`); // the card did get the PIN
    expect(apdus.map((e) => [e.name, e.isRedacted, e.command])).toEqual([
      ['VERIFY', true, null],
      ['VERIFY', true, null],
      ['CHANGE REFERENCE DATA', true, null],
      ['RESET RETRY COUNTER', true, null],
    ]);
    expect(apdus[1]?.swText).toBe('Verification failed, 2 tries left');
    const exported = JSON.stringify(toExportableLog(apdus));
    expect(exported).not.toContain('313233343536');
    expect(exported).not.toContain('3939393939');
    expect(
      JSON.stringify(apdus, (_k, v: unknown) => (v instanceof Uint8Array ? toHexString(v) : v)),
    ).not.toContain('313233343536');
  });

  it('splits answers over 374 bytes into 61xx pieces and serves GET RESPONSE from its buffer', async () => {
    reader.card = makeCard({ atr: CAC_T0_ATR, protocol: 0, fileLength: 1000 });
    const { apdus } = await lentBridge();
    const data: number[] = [];
    let r = await host.guestCommand('00B00000000000');
    let pieces = 0;
    for (;;) {
      if (r.kind !== 'answer') throw new Error(`guest got ${r.kind}`);
      pieces++;
      expect(r.bytes.length).toBeLessThanOrEqual(374);
      data.push(...r.bytes.subarray(0, r.bytes.length - 2));
      const sw1 = r.bytes[r.bytes.length - 2];
      const sw2 = r.bytes[r.bytes.length - 1] ?? 0;
      if (sw1 !== 0x61) {
        expect(sw1 === 0x90 && sw2 === 0).toBe(true);
        break;
      }
      r = await host.guestCommand(Uint8Array.of(0x00, 0xc0, 0x00, 0x00, sw2));
    }
    expect(pieces).toBe(4);
    expect(data).toEqual(Array.from({ length: 1000 }, (_, i) => i & 0xff));
    expect(reader.transmitted).toHaveLength(1); // GET RESPONSE never reached the card
    expect(apdus.map((e) => e.answeredBy)).toEqual([
      'card',
      'bridge-buffer',
      'bridge-buffer',
      'bridge-buffer',
    ]);
    expect(apdus[0]?.swText).toMatch(/256 or more bytes/);
  });

  it('discards the buffer when another command comes', async () => {
    reader.card = makeCard({ atr: CAC_T0_ATR, protocol: 0, fileLength: 600 });
    await lentBridge();
    expect(answerHex(await host.guestCommand('00B00000000000')).endsWith('6100')).toBe(true);
    expect(answerHex(await host.guestCommand('00A4040005A000000308'))).toBe('9000');
    // No buffer any more: this GET RESPONSE goes to the card, which does not know it.
    expect(answerHex(await host.guestCommand('00C0000010'))).toBe('6D00');
    expect(reader.transmitted).toHaveLength(3);
    expect(host.received('APDU').every((m) => m.type === 'APDU' && m.apdu.length <= 374)).toBe(
      true,
    );
  });

  it('never leaves a guest command unanswered when the card is gone', async () => {
    const logs: BridgeLogEvent[] = [];
    const { bridge, apdus } = await lentBridge({ onLog: (e) => logs.push(e) });
    // The card vanished but the reader has not reported it yet: transmit fails, the bridge answers 6F00.
    reader.card = null;
    expect(answerHex(await host.guestCommand('00A4040005A000000308'))).toBe('6F00');
    expect(apdus.at(-1)).toMatchObject({
      answeredBy: 'bridge-error',
      errorCode: 'BRIDGE_CARD_ABSENT',
      swText: 'No precise diagnosis',
    });
    // Once the removal is reported (CardRemove acked), a command QEMU still sends gets VSC_Error.
    const cardRemoveAcked = untilLog(logs, 'session event card-removed');
    reader.remove();
    await host.until(() => host.received('CardRemove').length === 1, 'CardRemove');
    await untilState(bridge, (s) => s.card === null, 'card gone');
    await cardRemoveAcked;
    expect(await host.guestCommand('00A4040005A000000308')).toEqual({ kind: 'failed' });
  });

  it('a reader hardware error on the slot removes the card and says why', async () => {
    const { bridge } = await lentBridge();
    reader.emit({ type: 'hardware-error', slot: 0, code: 0xfb });
    const s = await untilState(bridge, (x) => x.card === null, 'card gone');
    expect(s.error?.code).toBe('BRIDGE_READER_ERROR');
    await host.until(() => host.received('CardRemove').length === 1, 'CardRemove');
    reader.emit({ type: 'card-removed', slot: 1 }); // other slots are not ours
    // A CardRemove for it would reach the VM before the answer to this command (one ordered stream).
    expect(await host.guestCommand('00CA7F6800')).toEqual({ kind: 'failed' });
    expect(host.received('CardRemove')).toHaveLength(1);
  });

  it('answers 6F00 when transmit fails, and reports the card error', async () => {
    const { bridge, apdus } = await lentBridge();
    reader.isMute = true;
    expect(answerHex(await host.guestCommand('00CA7F6800'))).toBe('6F00');
    expect(apdus.at(-1)).toMatchObject({
      errorCode: 'BRIDGE_CARD_MUTE',
      answeredBy: 'bridge-error',
    });
    expect(bridge.state.error?.code).toBe('BRIDGE_CARD_MUTE');
  });

  it.each([
    ['CCID_NOT_POWERED', 'BRIDGE_CARD_RESET'],
    ['CCID_APDU_TOO_LONG', 'BRIDGE_APDU_TOO_LONG'],
    ['CCID_BAD_APDU', 'BRIDGE_BAD_APDU'],
    ['CCID_COMMAND_FAILED', 'BRIDGE_CARD_PROTOCOL'],
    ['CCID_TRANSFER_FAILED', 'BRIDGE_READER_ERROR'],
    ['CCID_ABORTED', 'BRIDGE_CANCELLED'],
  ])('transmit failing with %s: 6F00 logged as %s, and lending goes on', async (ccid, code) => {
    const { bridge, apdus } = await lentBridge();
    reader.transmitFailure = ccid;
    expect(answerHex(await host.guestCommand('00CA7F6800'))).toBe('6F00');
    expect(apdus.at(-1)).toMatchObject({ errorCode: code, answeredBy: 'bridge-error' });
    reader.transmitFailure = null;
    expect(answerHex(await host.guestCommand('00CA7F6800'))).toBe('01029000');
    expect(bridge.state.link).toBe('lent');
  });

  it('transmit failing with CCID_CLOSED (reader handle closed): lending stops with the reason', async () => {
    const { bridge, apdus } = await lentBridge();
    reader.transmitFailure = 'CCID_CLOSED';
    expect((await host.guestCommand('00CA7F6800')).kind).toMatch(/^(flushed|answer)$/);
    const s = await untilState(bridge, (x) => x.link === 'stopped', 'stopped');
    expect(s.error?.code).toBe('BRIDGE_READER_CLOSED');
    expect(apdus.at(-1)?.errorCode).toBe('BRIDGE_READER_CLOSED');
    await host.until(() => host.received('ReaderRemove').length === 1, 'ReaderRemove');
  });

  it('drops the answer of a command the card was removed under, and works with the next card', async () => {
    const { bridge, apdus } = await lentBridge();
    reader.isHolding = true;
    const pending = host.guestCommand('00CA7F6800');
    const queued = host.guestCommand('00A4040005A000000308');
    await vi.waitFor(() => expect(reader.heldCount).toBe(1));
    reader.remove();
    // QEMU answers outstanding commands empty on CardRemove (§3); the bridge's late answers must not follow.
    expect(await pending).toEqual({ kind: 'flushed' });
    expect(await queued).toEqual({ kind: 'flushed' });
    reader.release();
    await untilState(bridge, (s) => s.card === null, 'card gone');
    // The held command is logged when its late answer comes back: that is when it would be sent.
    await vi.waitFor(() => expect(apdus).toHaveLength(2));
    expect(apdus.map((e) => e.answeredBy)).toEqual(['bridge-error', 'bridge-error']);
    expect(reader.transmitted).toHaveLength(1); // the queued one never went to a card

    reader.insert(makeCard({ atr: CAC_T0_ATR, protocol: 0 }));
    await untilState(bridge, (s) => s.card?.vmStatus === 'accepted', 'accepted again');
    expect(answerHex(await host.guestCommand('00CA7F6800'))).toBe('01029000');
    // Only that answer reached the VM: nothing stale before it on the ordered stream.
    expect(host.received('APDU')).toHaveLength(1);
  });
});

describe('ending', () => {
  beforeEach(() => {
    reader.card = makeCard({ atr: CAC_T0_ATR, protocol: 0 });
  });

  it('stop(): CardRemove, ReaderRemove, acks, then close 1000, then power off', async () => {
    const { bridge } = await lentBridge();
    const closed = new Promise<number>((resolve) =>
      host.connections[0]?.socket.on('close', (code: number) => resolve(code)),
    );
    await bridge.stop();
    expect(host.types()).toEqual(['Init', 'ReaderAdd', 'ATR', 'CardRemove', 'ReaderRemove']);
    expect(await closed).toBe(1000);
    expect(bridge.state).toMatchObject({ link: 'stopped', error: null, card: null });
    expect(reader.calls.at(-1)).toBe('powerOff');
    expect(reader.listenerCount).toBe(0);
    await bridge.stop(); // idempotent
  });

  it('stop() is bounded when the VM does not ack', async () => {
    const { bridge } = await lentBridge({ stopTimeoutMs: 150, ackTimeoutMs: 5000 });
    host.isSilent = true;
    const t0 = Date.now();
    await bridge.stop();
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(bridge.state.link).toBe('stopped');
    await host.until(() => !host.isConnected, 'socket closed');
  });

  it('reader unplugged: CardRemove + ReaderRemove, close, link stopped with the reason', async () => {
    const { bridge } = await lentBridge();
    reader.unplug();
    const s = await untilState(bridge, (x) => x.link === 'stopped', 'stopped');
    expect(s.error?.code).toBe('BRIDGE_READER_GONE');
    expect(host.types()).toEqual(['Init', 'ReaderAdd', 'ATR', 'CardRemove', 'ReaderRemove']);
    await host.until(() => !host.isConnected, 'socket closed');
    expect(reader.calls).not.toContain('powerOff');
  });

  it('reader unplugged mid-APDU: the guest command is answered or flushed, never left hanging', async () => {
    const { bridge } = await lentBridge();
    reader.isHolding = true;
    const pending = host.guestCommand('00CA7F6800');
    await vi.waitFor(() => expect(reader.heldCount).toBe(1));
    reader.unplug();
    reader.release();
    expect((await pending).kind).toMatch(/^(flushed|answer)$/);
    await untilState(bridge, (x) => x.link === 'stopped', 'stopped');
  });

  it('stop() while connecting closes without announcing', async () => {
    const { bridge } = makeBridge();
    const started = bridge.start();
    await bridge.stop();
    await expect(started).rejects.toMatchObject({ code: expect.any(String) });
    expect(bridge.state.link).toBe('stopped');
    await host.until(() => host.connections.length === 1 && !host.isConnected, 'socket closed');
    expect(host.log).toHaveLength(0);
  });
});

describe('relay connection', () => {
  beforeEach(() => {
    reader.card = makeCard({ atr: CAC_T0_ATR, protocol: 0 });
  });

  it('reconnects after a drop and announces reader and card again', async () => {
    const { bridge, states } = await lentBridge();
    host.terminateClient();
    const r = await untilState(bridge, (s) => s.link === 'reconnecting', 'reconnecting');
    expect(r).toMatchObject({
      error: { code: 'BRIDGE_CONNECTION_LOST' },
      reconnectAttempt: 1,
      closeCode: 1006,
    });
    expect(await host.secondAnnouncement()).toEqual(['Init', 'ReaderAdd', 'ATR']);
    await untilState(
      bridge,
      (s) => s.link === 'lent' && s.card?.vmStatus === 'accepted' && s.error === null,
      'lent again',
    );
    expect(answerHex(await host.guestCommand('00CA7F6800'))).toBe('01029000');
    expect(states.map((s) => s.link)).toContain('reconnecting');
  });

  it('clears the VM card on reconnect when the card was pulled while disconnected', async () => {
    const { bridge } = makeBridge({
      reconnect: { initialDelayMs: 200, maxDelayMs: 400, maxAttempts: 3 },
    });
    await bridge.start();
    await untilState(bridge, (s) => s.card?.vmStatus === 'accepted', 'accepted');
    host.terminateClient();
    await untilState(bridge, (s) => s.link === 'reconnecting', 'reconnecting');
    reader.remove(); // nobody to tell yet: QEMU keeps showing the card (§5)
    expect(host.atr).not.toBeNull();
    await host.until(
      () => host.connections.length === 2 && host.types(1).length === 3,
      'reconnected',
    );
    expect(host.types(1)).toEqual(['Init', 'ReaderAdd', 'CardRemove']);
    expect(host.atr).toBeNull();
    await untilState(bridge, (s) => s.link === 'lent' && s.card === null, 'lent without card');
  });

  it('reconnects after the relay goes away (1001) and after the VM side closed (4011)', async () => {
    const { bridge } = await lentBridge();
    host.closeClient(RelayClose.GOING_AWAY, 'restart');
    await host.until(
      () => host.connections.length === 2 && host.types(1).length === 3,
      'reconnected',
    );
    host.closeClient(RelayClose.VM_CLOSED, 'vm closed');
    await host.until(
      () => host.connections.length === 3 && host.types(2).length === 3,
      'reconnected twice',
    );
    await untilState(bridge, (s) => s.link === 'lent' && s.card?.vmStatus === 'accepted', 'lent');
  });

  it('backs off across connections dropped right after being lent, afresh after a stable one', async () => {
    let clock = 0;
    const { bridge, states } = makeBridge({
      now: () => clock,
      reconnect: { initialDelayMs: 5, maxDelayMs: 10, maxAttempts: 3 },
    });
    await bridge.start();
    await untilState(bridge, (s) => s.card?.vmStatus === 'accepted', 'accepted');
    const dropAndWait = async (n: number): Promise<void> => {
      host.closeClient(RelayClose.VM_CLOSED, 'vm closed');
      await host.until(
        () => host.connections.length === n && host.types(n - 1).length === 3,
        `connection ${n}`,
      );
      await untilState(bridge, (s) => s.link === 'lent' && s.card?.vmStatus === 'accepted', 'lent');
    };
    await dropAndWait(2);
    await dropAndWait(3);
    clock += 10_000; // the third connection stays up 10 s
    await dropAndWait(4);
    await dropAndWait(5);
    await dropAndWait(6);
    host.closeClient(RelayClose.VM_CLOSED, 'vm closed');
    await untilState(bridge, (s) => s.link === 'failed', 'failed');
    const attempts = states.filter((s) => s.link === 'reconnecting').map((s) => s.reconnectAttempt);
    expect(attempts).toEqual([1, 2, 1, 2, 3]);
    expect(bridge.state.error?.code).toBe('BRIDGE_VM_CLOSED');
  });

  it.each([
    [RelayClose.VM_IN_USE, 'BRIDGE_VM_IN_USE', 'refused'],
    [RelayClose.UNAUTHORIZED, 'BRIDGE_UNAUTHORIZED', 'refused'],
    [RelayClose.TOKEN_USED, 'BRIDGE_TOKEN_USED', 'refused'],
    [RelayClose.BAD_FRAME, 'BRIDGE_BAD_FRAME', 'failed'],
    [RelayClose.VM_PROTOCOL, 'BRIDGE_VM_PROTOCOL', 'failed'],
  ])('close %i is final: %s, link %s, no reconnect', async (code, errorCode, link) => {
    host.opts.refuseWith = { code, reason: 'no' };
    const timers = new CountingTimers();
    const { bridge } = makeBridge({ timers });
    await expect(bridge.start()).rejects.toMatchObject({ code: errorCode });
    expect(bridge.state).toMatchObject({ link, error: { code: errorCode }, closeCode: code });
    expect(timers.pending).toBe(0); // no reconnect scheduled, nothing left to fire
    expect(host.connections).toHaveLength(1);
    expect(reader.listenerCount).toBe(0);
  });

  it('a wrong token is refused by the relay and not retried', async () => {
    host.opts.token = 'right';
    const { bridge } = makeBridge({ token: 'wrong' });
    await expect(bridge.start()).rejects.toMatchObject({ code: 'BRIDGE_UNAUTHORIZED' });
    expect(bridge.state.link).toBe('refused');
  });

  it('a second tab for the same VM gets "in use"', async () => {
    const first = makeBridge().bridge;
    await first.start();
    const secondReader = new ScriptedReader();
    const second = makeBridge({ reader: secondReader }).bridge;
    await expect(second.start()).rejects.toMatchObject({ code: 'BRIDGE_VM_IN_USE' });
    expect(second.state).toMatchObject({ link: 'refused', closeCode: RelayClose.VM_IN_USE });
    expect(first.state.link).toBe('lent');
  });

  it('gives up after maxAttempts when the relay stays unreachable', async () => {
    const relayUrl = host.url;
    await host.close();
    const { bridge, states } = makeBridge({
      relayUrl,
      reconnect: { initialDelayMs: 5, maxDelayMs: 10, maxAttempts: 3 },
    });
    await expect(bridge.start()).rejects.toMatchObject({ code: 'BRIDGE_RELAY_UNREACHABLE' });
    expect(bridge.state.link).toBe('failed');
    expect(states.filter((s) => s.link === 'reconnecting').map((s) => s.reconnectAttempt)).toEqual([
      1, 2, 3,
    ]);
    host = await VscardHostDouble.start(); // for afterEach
  });

  it('spaces retries by exponential backoff with jitter (injected timers and random)', async () => {
    const relayUrl = host.url;
    await host.close();
    const delays: number[] = [];
    const timers = {
      setTimeout: (cb: () => void, ms: number): unknown => {
        delays.push(ms);
        return setTimeout(cb, 1); // run at once: the test checks the schedule, not the wall clock
      },
      clearTimeout: (h: unknown): void => clearTimeout(h as ReturnType<typeof setTimeout>),
    };
    const { bridge, states } = makeBridge({
      relayUrl,
      timers,
      random: () => 0.5,
      now: () => 1_000,
      reconnect: { initialDelayMs: 1000, maxDelayMs: 5000, maxAttempts: 5 },
    });
    await expect(bridge.start()).rejects.toMatchObject({ code: 'BRIDGE_RELAY_UNREACHABLE' });
    // ceiling 1000·2^(n-1) capped at 5000, jittered to 75 % with random 0.5
    expect(delays).toEqual([750, 1500, 3000, 3750, 3750]);
    expect(states.filter((s) => s.link === 'reconnecting').map((s) => s.nextRetryAtMs)).toEqual([
      1750, 2500, 4000, 4750, 4750,
    ]);
    host = await VscardHostDouble.start();
  });

  it('fails with a clear error when the VM never acknowledges', async () => {
    host.isSilent = true;
    const { bridge } = makeBridge({ ackTimeoutMs: 100 });
    await expect(bridge.start()).rejects.toMatchObject({ code: 'BRIDGE_VM_NOT_ANSWERING' });
    expect(bridge.state.link).toBe('failed');
  });

  it('refuses to speak VSCard to a server that does not select the cardlend subprotocol', async () => {
    // Browsers open such a connection with protocol '' (ws refuses the handshake itself).
    const socket = new MemorySocket();
    socket.protocol = '';
    const { bridge } = makeBridge({
      createWebSocket: opensSoon(socket),
    });
    await expect(bridge.start()).rejects.toMatchObject({ code: 'BRIDGE_RELAY_PROTOCOL' });
    expect(bridge.state.link).toBe('failed');
    expect(socket.sent).toHaveLength(0);
    expect(socket.closeCode).toBe(1002);
  });

  it('fails on a frame that is not VSCard', async () => {
    const { bridge } = makeBridge();
    await bridge.start();
    host.connections[0]?.socket.send(Buffer.from('00000007000000', 'hex'));
    const s = await untilState(bridge, (x) => x.link === 'failed', 'failed');
    expect(s.error?.code).toBe('BRIDGE_RELAY_PROTOCOL');
  });

  it('fails when there is no WebSocket at all', async () => {
    vi.stubGlobal('WebSocket', undefined);
    try {
      const bridge = new CardBridge({ reader, relayUrl: host.url });
      bridges.push(bridge);
      await expect(bridge.start()).rejects.toMatchObject({ code: 'BRIDGE_NO_WEBSOCKET' });
      expect(bridge.state).toMatchObject({
        link: 'failed',
        error: { code: 'BRIDGE_NO_WEBSOCKET' },
      });
      expect(host.connections).toHaveLength(0);
    } finally {
      vi.unstubAllGlobals();
    }
  });
});

describe('relayWebSocketUrl', () => {
  it.each([
    ['ws://127.0.0.1:8080', 'ws://127.0.0.1:8080/vscard'],
    ['ws://127.0.0.1:8080/', 'ws://127.0.0.1:8080/vscard'],
    ['https://relay.example/', 'wss://relay.example/vscard'],
    ['http://relay.example/base/vscard?x=1#y', 'ws://relay.example/base/vscard'],
    ['  wss://relay.example/base  ', 'wss://relay.example/base/vscard'],
  ])('%s → %s', (input, url) => {
    expect(relayWebSocketUrl(input)).toBe(url);
  });

  it('rejects addresses that are not URLs', () => {
    expect(() => relayWebSocketUrl('relay.example')).toThrow(TypeError);
    expect(() => new CardBridge({ reader, relayUrl: 'ftp://x' })).toThrow(TypeError);
    expect(() => new CardBridge({ reader, relayUrl: 'ws://x', token: 'a b' })).toThrow(TypeError);
    expect(() => new CardBridge({ reader, relayUrl: 'ws://x', token: 'a,b' })).toThrow(TypeError);
    expect(() => new CardBridge({ reader, relayUrl: 'ws://x', maxAnswerBytes: 375 })).toThrow(
      RangeError,
    );
  });
});
