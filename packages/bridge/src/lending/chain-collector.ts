/**
 * Collects a card's own `61xx` chain with GET RESPONSE next to the card (long-answers contract,
 * issue 11 §3): the collector lives in @cardlend/vscard (chain-collector.ts), shared with the
 * guest tests' page stand-in.
 */
export { ChainCollector, MAX_CHAIN_LINKS } from '@cardlend/vscard';
