/**
 * The `Sec-WebSocket-Protocol` offer read once at the upgrade (admission/offer.ts): a table of
 * headers, well-formed and not, and what admission gets from each; and a round trip over what
 * the contract's own `relaySubprotocols` offers.
 */
import {
  RELAY_RESUME_CAPABILITY as RESUME,
  RELAY_SUBPROTOCOL as VSCARD,
  RELAY_SUBPROTOCOL_LONG_ANSWERS as LONG,
  RELAY_TICKET_SUBPROTOCOL_PREFIX as TICKET,
  RELAY_TOKEN_SUBPROTOCOL_PREFIX as TOKEN,
  relaySubprotocols,
} from '@cardlend/vscard/relay-contract';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseClientOffer, type ClientOffer } from '../src/admission/offer.ts';
import { MAX_TOKEN_CHARS } from '../src/auth/tokens.ts';

const NOTHING: ClientOffer = {
  hasVscardProtocol: false,
  offeredToken: { token: null, hasSeveralTokens: false },
  resumeTicket: null,
  isResumeCapable: false,
};
/** {@link NOTHING} with the VSCard contract and `parts`. */
const offer = (parts: Partial<ClientOffer> = {}): ClientOffer => ({
  ...NOTHING,
  hasVscardProtocol: true,
  ...parts,
});
const token = (t: string | null, hasSeveralTokens = false) => ({
  offeredToken: { token: t, hasSeveralTokens },
});
const LONGEST = 'a'.repeat(MAX_TOKEN_CHARS);

describe('parseClientOffer', () => {
  it.each<[string, string | string[] | undefined, ClientOffer]>([
    ['no header', undefined, NOTHING],
    ['an empty header', '', NOTHING],
    ['only commas and blanks', ' , ,, ', NOTHING],
    ['the VSCard contract', VSCARD, offer()],
    ['its long-answers form alone', LONG, offer()],
    ['another version only', 'cardlend.vscard.v2', NOTHING],
    ['the contract in other case (names are exact)', VSCARD.toUpperCase(), NOTHING],
    ['a token', `${VSCARD}, ${TOKEN}v1.abc.def`, offer(token('v1.abc.def'))],
    ['a token with blanks around', `  ${TOKEN}tok ,${VSCARD}  `, offer(token('tok'))],
    ['a token without the contract', `${TOKEN}tok`, { ...NOTHING, ...token('tok') }],
    ['an empty token', `${VSCARD}, ${TOKEN}`, offer()],
    ['the longest token', `${VSCARD}, ${TOKEN}${LONGEST}`, offer(token(LONGEST))],
    ['an oversized token', `${VSCARD}, ${TOKEN}${LONGEST}a`, offer()],
    ['two tokens', `${VSCARD}, ${TOKEN}a, ${TOKEN}b`, offer(token(null, true))],
    ['the same token twice', `${VSCARD}, ${TOKEN}a, ${TOKEN}a`, offer(token(null, true))],
    ['an empty and a good token', `${VSCARD}, ${TOKEN}, ${TOKEN}a`, offer(token(null, true))],
    ['a ticket', `${VSCARD}, ${TICKET}r1.x`, offer({ resumeTicket: 'r1.x' })],
    [
      'two tickets (the first counts)',
      `${VSCARD},${TICKET}one,${TICKET}two`,
      offer({ resumeTicket: 'one' }),
    ],
    ['an empty ticket', `${VSCARD}, ${TICKET}`, offer({ resumeTicket: '' })],
    ['the resume marker', `${VSCARD}, ${RESUME}`, offer({ isResumeCapable: true })],
    ['the resume marker twice', `${RESUME},${VSCARD},${RESUME}`, offer({ isResumeCapable: true })],
    [
      'token, ticket and marker together',
      `${VSCARD}, ${TOKEN}t, ${TICKET}r, ${RESUME}`,
      offer({ ...token('t'), resumeTicket: 'r', isResumeCapable: true }),
    ],
    [
      'two header lines',
      [VSCARD, `${TOKEN}t, ${RESUME}`],
      offer({ ...token('t'), isResumeCapable: true }),
    ],
    ['a prefix glued to another name', `${VSCARD}x${TOKEN}t`, NOTHING],
    ['a long junk header', `${VSCARD},${'x,'.repeat(5000)}`, offer()],
  ])('%s', (_name, header, expected) => {
    expect(parseClientOffer(header)).toEqual(expected);
  });

  it('reads back whatever the contract offers', () => {
    const part = fc.stringMatching(/^[A-Za-z0-9_.-]{1,40}$/);
    fc.assert(
      fc.property(
        fc.option(part, { nil: undefined }),
        fc.option(part, { nil: undefined }),
        fc.boolean(),
        fc.boolean(),
        (tok, ticket, longAnswers, resumable) => {
          const offered = relaySubprotocols(tok, {
            longAnswers,
            resumable,
            ...(ticket === undefined ? {} : { ticket }),
          });
          expect(parseClientOffer(offered.join(', '))).toEqual({
            hasVscardProtocol: true,
            // A ticket is offered instead of the token.
            offeredToken: {
              token: ticket === undefined ? (tok ?? null) : null,
              hasSeveralTokens: false,
            },
            resumeTicket: ticket ?? null,
            isResumeCapable: resumable,
          });
        },
      ),
      { seed: 11, numRuns: 300 },
    );
  });
});
