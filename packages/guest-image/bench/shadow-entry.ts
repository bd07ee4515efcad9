/**
 * Browser code of the chain bench's `--shadow` (shadow-page.ts): a second lender held in memory
 * in the page (`lendInMemory` of the bridge's benchmarks: the page's lending path — demo reader,
 * CCID driver, CardBridge — behind an in-memory WebSocket instead of the relay's). After each
 * answer the page sends, the bench runs the same guest command through it twice: the first run
 * finds its code and data as cold as the page's own path finds them (the chain's other
 * processes ran since its last command), the second runs at once, hot. Bundled by esbuild into
 * one classic script exposing `__cardlendShadow.startShadow`.
 */
export { lendInMemory as startShadow } from '../../bridge/bench/memory-lender.ts';
