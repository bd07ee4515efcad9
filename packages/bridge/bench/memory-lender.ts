/**
 * The page's "Try a virtual card" lending path held in memory, for benchmarks: card-sim's
 * vendor-class reader with the PIV demo card (T=1 only), the CCID driver and a CardBridge behind
 * an in-memory WebSocket that acknowledges control messages as QEMU does. Used by this package's
 * page-path bench (Node) and by the chain bench's `--shadow` (bundled into a page).
 */
import { createPivDemoCard, readerProfiles, SimulatedReader } from '@cardlend/card-sim';
import { openReader } from '@cardlend/ccid/webusb';
import { encodeMessage, VSC } from '@cardlend/vscard';
import { CardBridge } from '../src/card-bridge.ts';
import { MemorySocket } from '../test/helpers/memory-socket.ts';

/**
 * A MemorySocket that reports the bridge's APDU answers (the sent frames are not kept). An answer
 * stops the clock as it reaches send() and goes no further: MemorySocket's copy and decode of
 * each frame (it answers control messages only) are the harness's work, not the page's.
 */
class AnswerSocket extends MemorySocket {
  onAnswer: (() => void) | null = null;

  override send(data: Uint8Array): void {
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    if (data.byteLength >= 12 && view.getUint32(0) === VSC.APDU) {
      this.onAnswer?.();
      return;
    }
    super.send(data);
    this.sent.length = 0;
  }
}

/**
 * Lends a demo card in memory; resolves, once the in-memory VM has the card (its ATR sent and
 * acknowledged), with a call that delivers `apdu` as a guest command and resolves with the time
 * from the delivery to the answer's send() (ms, `performance.now()`).
 */
export async function lendInMemory(apdu: Uint8Array): Promise<() => Promise<number>> {
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
  return () =>
    new Promise<number>((resolve) => {
      const deliveredAt = performance.now();
      socket.onAnswer = () => resolve(performance.now() - deliveredAt);
      socket.deliver(frame);
    });
}
