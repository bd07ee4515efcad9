/**
 * Browser code of the chain bench's `--shadow` (shadow-page.ts): a second lender held in memory
 * in the page — the page's lending path (card-sim's vendor-class reader with the PIV demo card,
 * the CCID driver, CardBridge) behind an in-memory WebSocket instead of the relay's. After each
 * answer the page sends, the bench runs the same guest command through it twice: the first run
 * finds its code and data as cold as the page's own path finds them (the chain's other
 * processes ran since its last command), the second runs at once, hot. Bundled by esbuild into
 * one classic script exposing `__cardlendShadow.startShadow`.
 */
import { CardBridge } from '@cardlend/bridge';
import { openReader } from '@cardlend/ccid/webusb';
import { createPivDemoCard, readerProfiles, SimulatedReader } from '@cardlend/card-sim';
import { encodeMessage } from '@cardlend/vscard';
import { MemorySocket } from '../../bridge/test/helpers/memory-socket.ts';

/** VSCard message type of an APDU (vscard-protocol.md §2). */
const VSC_APDU = 7;

/** A MemorySocket that reports the bridge's APDU answers (the sent frames are not kept). */
class AnswerSocket extends MemorySocket {
  onAnswer: (() => void) | null = null;

  override send(data: Uint8Array): void {
    super.send(data);
    this.sent.length = 0;
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    if (data.byteLength >= 12 && view.getUint32(0) === VSC_APDU) this.onAnswer?.();
  }
}

/**
 * Lends a second demo card in memory; resolves, once the in-memory VM has its card, with a call
 * that runs `apdu` through it and resolves with the time it took (ms, the page's clock).
 */
export async function startShadow(apdu: Uint8Array): Promise<() => Promise<number>> {
  const profile = readerProfiles['vendorClass'];
  if (profile === undefined) throw new TypeError('simulator profile missing');
  const sim = new SimulatedReader({ profile, emulateChrome: true });
  sim.insertCard(await createPivDemoCard({ protocols: [1] }));
  const reader = await openReader(sim.device);
  const socket = new AnswerSocket();
  const bridge = new CardBridge({
    reader,
    relayUrl: 'ws://127.0.0.1:1/',
    createWebSocket: () => {
      queueMicrotask(() => socket.open());
      return socket;
    },
  });
  const hasCard = new Promise<void>((resolve) =>
    bridge.onState((s) => {
      if (s.card !== null) resolve();
    }),
  );
  await bridge.start();
  await hasCard;
  const frame = encodeMessage({ type: 'APDU', readerId: 0, apdu });
  return async () => {
    const answered = new Promise<void>((resolve) => (socket.onAnswer = resolve));
    const startedAt = performance.now();
    socket.deliver(frame);
    await answered;
    return performance.now() - startedAt;
  };
}
