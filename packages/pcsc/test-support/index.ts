/**
 * @cardlend/pcsc/testing: a real PC/SC stack for tests (Node, root). A pcscd with the vpcd
 * driver in private network and mount namespaces, the project's simulated cards plugged in
 * over vpcd's protocol, Debian's vicc as an independent card, restarts for service-loss tests.
 *
 *   const pcscd = await startPcscd();
 *   const card = await pcscd.insertCard(createPivDemoCard()); // 'Virtual PCD 00 00'
 *   const reader = await openReader(pcscd.readers[0]);          // @cardlend/pcsc
 *   ...
 *   await card.remove(); await pcscd.reinsert(card); await pcscd.restart();
 *   await pcscd.stop();
 */
export {
  checkPcscdPrerequisites,
  pcscdPaths,
  startPcscd,
  VPCD_PORTS,
  VPCD_READERS,
} from './pcscd.ts';
export type { InsertOptions, Pcscd, PcscdOptions } from './pcscd.ts';
export { VpcdCard } from './vpcd-card.ts';
export type { VpcdCardOptions, VpcdExchange, VpcdFault } from './vpcd-card.ts';
export { decodeVpcdPayload, encodeVpcdFrame, VPCD_CTRL, VpcdFramer } from './vpcd-protocol.ts';
export type { VpcdMessage } from './vpcd-protocol.ts';
export type { Vicc, ViccOptions } from './vicc.ts';
export { connectInNamespace } from './netns-socket.ts';
export { waitForCard, waitUntil } from './wait.ts';
