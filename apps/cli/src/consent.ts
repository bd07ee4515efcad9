/**
 * The consent question before lending: it names the reader, the card and the VM target, and
 * is skipped only by `--yes`. Without a terminal to ask in and without `--yes`, lending is
 * refused. Pure: the prompt I/O is in prompt.ts.
 */
import { parseAtr } from '@cardlend/vscard';
import type { LendTarget } from './link.ts';
import type { ReaderSummary } from './reader-choice.ts';
import { formatHex } from './hex.ts';
import { decodeTokenClaims, describeExpiry } from './token-claims.ts';

export type ConsentDecision =
  | { readonly kind: 'skip' }
  | { readonly kind: 'ask' }
  | { readonly kind: 'refuse'; readonly message: string };

/** Whether to ask: `--yes` skips; a terminal asks; otherwise refuse. */
export function decideConsent(opts: { yes: boolean; isInteractive: boolean }): ConsentDecision {
  if (opts.yes) return { kind: 'skip' };
  if (opts.isInteractive) return { kind: 'ask' };
  return {
    kind: 'refuse',
    message:
      'Lending needs your consent, and there is no terminal to ask in. Run it again in a terminal, or add --yes to lend without asking.',
  };
}

/** The card line: ATR and the protocols it offers, or that there is none yet. */
export function describeCard(reader: ReaderSummary): string {
  if (reader.atr === null || reader.state === 'empty')
    return 'no card yet (it is lent when you insert one)';
  let protocols: string;
  try {
    protocols = `, offers ${parseAtr(reader.atr)
      .protocols.map((p) => `T=${p}`)
      .join(' and ')}`;
  } catch {
    protocols = ', ATR not readable';
  }
  const held = reader.state === 'in-use' ? ' (another program is using it now)' : '';
  return `ATR ${formatHex(reader.atr)}${protocols}${held}`;
}

/** The VM line: what the token says (unverified) and the relay. */
export function describeTarget(target: LendTarget, nowMs: number): string {
  const relay = target.relayUrl;
  if (target.token === '') return `the VM behind ${relay} (no session token)`;
  const claims = decodeTokenClaims(target.token);
  if (claims === null) return `the VM your token names, behind ${relay}`;
  const uses = claims.isOneTime ? 'one session' : 'reconnects allowed';
  return `VM "${claims.targetId}" behind ${relay} (token ${describeExpiry(claims.expiresAtSec, nowMs)}, ${uses})`;
}

/** The whole consent text, without the question line. */
export function consentText(reader: ReaderSummary, target: LendTarget, nowMs: number): string {
  return [
    'cardlend will lend a smart card to a remote virtual machine:',
    `  reader: ${reader.name}`,
    `  card:   ${describeCard(reader)}`,
    `  to:     ${describeTarget(target, nowMs)}`,
    'While it is lent, the VM can use the card as if it were plugged in there (including',
    'signing with it once its software has your PIN). Stop any time with Ctrl-C.',
  ].join('\n');
}

/** The question line. */
export const CONSENT_QUESTION = 'Lend this card to that VM? [y/N] ';

/** True only for an explicit yes. */
export function isConsentGiven(answer: string): boolean {
  return /^\s*(y|yes)\s*$/i.test(answer);
}
