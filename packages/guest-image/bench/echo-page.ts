/**
 * The chain bench's `--page echo` (echo-entry.ts): the floor of any page. Prepares the answer
 * the demo card gives the bench's APDU, loads the echo script into the page and returns the
 * expression that starts it.
 */
import { createPivDemoCard } from '@cardlend/card-sim';
import { toQemuT0CompatibleAtr } from '@cardlend/vscard';
import type { CdpPage } from './cdp.ts';
import { bundle } from './worker-experiment.ts';

export async function startEchoPage(
  page: CdpPage,
  relayPort: number,
  apdu: string,
): Promise<string> {
  const card = await createPivDemoCard({ protocols: [1] });
  const answer = await card.process(Buffer.from(apdu, 'hex'));
  const atr = toQemuT0CompatibleAtr(card.atr);
  await page.evaluate(await bundle('echo-entry.ts', '__cardlendEcho'));
  const bytes = (b: Uint8Array): string => `Uint8Array.from(${JSON.stringify([...b])})`;
  const url = JSON.stringify(`ws://127.0.0.1:${relayPort}/vscard`);
  return `void __cardlendEcho.startEcho(${url}, ${bytes(atr)}, ${bytes(answer)})`;
}
