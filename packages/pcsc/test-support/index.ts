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
// startPcscd and the Pcscd it returns (vpcd's readers and ports, prerequisites).
export * from './pcscd.ts';
// VpcdCard: a simulated card on vpcd's wire protocol, with faults.
export * from './vpcd-card.ts';
// The vpcd wire protocol, pure.
export * from './vpcd-protocol.ts';
// Debian's vicc, started through Pcscd.startVicc.
export type { Vicc, ViccOptions } from './vicc.ts';
// connectInNamespace: a TCP socket opened in another process's network namespace.
export * from './netns-socket.ts';
// waitForCard, waitUntil: what pcscd reports, polled through a PC/SC context.
export * from './wait.ts';
