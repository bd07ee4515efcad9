/**
 * The chain bench's `--shadow`: is the page's share of a guest APDU its code's cost, or the cost
 * of running that code cold? After each answer the page sends to the relay, a second lender held
 * in memory (shadow-entry.ts: the same bridge, driver, simulated reader and card, no WebSocket)
 * answers the same command twice, timed by the page's clock: first as cold as the page's own
 * path runs (its last command was one chain round trip ago), then again at once, hot. Chromium's
 * page clock steps by 100 µs, so only the means of thousands say anything.
 */
import { VSC } from '@cardlend/vscard';
import { bundle } from './worker-experiment.ts';

/** The script added to the page before its own: the shadow lender and the hook that runs it. */
export async function shadowScript(apdu: string): Promise<string> {
  const lender = await bundle('shadow-entry.ts', '__cardlendShadow');
  const bytes = JSON.stringify([...Buffer.from(apdu, 'hex')]);
  return `${lender}
(() => {
  const first = [];
  const again = [];
  globalThis.__cardlendShadowTimes = () => ({ first, again });
  let run = null;
  let isRunning = false;
  __cardlendShadow.startShadow(Uint8Array.from(${bytes})).then((r) => { run = r; });
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    const result = send.call(this, data);
    const isAnswer = ArrayBuffer.isView(data) && data.byteLength >= 12
      && new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(0) === ${VSC.APDU};
    if (run !== null && !isRunning && isAnswer) {
      isRunning = true;
      queueMicrotask(() => run()
        .then((ms) => { first.push(ms); return run(); })
        .then((ms) => { again.push(ms); isRunning = false; }));
    }
    return result;
  };
})();`;
}

/** The line the bench prints: mean µs of both runs, leaving out the first `skip` (JIT warm-up). */
export function describeShadow(times: { first: number[]; again: number[] }, skip: number): string {
  const mean = (a: number[]): string =>
    a.length > skip
      ? ((a.slice(skip).reduce((x, y) => x + y, 0) / (a.length - skip)) * 1000).toFixed(1)
      : '?';
  return `  shadow lender in the page (same path in memory, after guest APDU ${skip}): first run ${mean(times.first)} µs mean, again at once ${mean(times.again)} µs (n=${times.first.length})`;
}
