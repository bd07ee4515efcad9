/**
 * Browser code of the worker experiment (worker-experiment.ts), bundled by esbuild into one
 * classic script that runs on a page's main thread or in a dedicated worker alike: the page's
 * "Try a virtual card" lending path — card-sim's simulated vendor-class reader with the PIV
 * demo card (T=1 only), `openReader` of the CCID driver, `CardBridge` to the relay — with each
 * APDU log entry handed to `onApdu`. In a worker the script also answers the page's messages.
 */
import { CardBridge } from '@cardlend/bridge';
import { openReader } from '@cardlend/ccid/webusb';
import { createPivDemoCard, readerProfiles, SimulatedReader } from '@cardlend/card-sim';

/** What a log row needs of an answered guest command (a subset of the bridge's ApduLogEntry). */
export interface LentApdu {
  id: number;
  command: Uint8Array | null;
  response: Uint8Array | null;
  latencyMs: number;
}

/** Lends the demo card through the relay at `relayUrl`; resolves once the VM has the reader. */
export async function startLending(relayUrl: string, onApdu: (e: LentApdu) => void): Promise<void> {
  const profile = readerProfiles['vendorClass'];
  if (profile === undefined) throw new TypeError('simulator profile missing');
  const sim = new SimulatedReader({ profile, emulateChrome: true });
  sim.insertCard(await createPivDemoCard({ protocols: [1] }));
  const reader = await openReader(sim.device);
  const bridge = new CardBridge({ reader, relayUrl });
  bridge.onApdu((e) =>
    onApdu({ id: e.id, command: e.command, response: e.response, latencyMs: e.latencyMs }),
  );
  await bridge.start();
}

interface WorkerScope {
  postMessage(m: unknown): void;
  addEventListener(
    type: 'message',
    l: (e: { data: { kind: string; relayUrl?: string } }) => void,
  ): void;
  __cardlendPageTimes?: () => unknown;
}

const scope = globalThis as unknown as WorkerScope & { document?: unknown };
if (scope.document === undefined) {
  // A dedicated worker: `start` lends (each entry posted to the page), `times` returns the timings.
  scope.addEventListener('message', (e) => {
    if (e.data.kind === 'start' && e.data.relayUrl !== undefined) {
      startLending(e.data.relayUrl, (entry) => scope.postMessage({ kind: 'apdu', entry })).then(
        () => scope.postMessage({ kind: 'started' }),
        (err: unknown) => scope.postMessage({ kind: 'failed', error: String(err) }),
      );
    } else if (e.data.kind === 'times') {
      scope.postMessage({ kind: 'times', times: scope.__cardlendPageTimes?.() });
    }
  });
}
