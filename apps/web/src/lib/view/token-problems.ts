/**
 * Token failures told apart (issue 14 §6). The relay closes every token refusal with one code
 * (4001), so the page tells them apart from the token it sent: none, unreadable, past its
 * expiry, or well-formed and in date (then its signature or target is wrong: "not valid for
 * this relay"). The expiry is read from the token itself. Pure.
 *
 * The words live here until @cardlend/problems has entries for them (requested in
 * /work/coord/requests.md); the shape is the catalog's Explanation.
 */
import type { Explanation } from '../errors/explain.ts';
import { formatClock, readToken, type TokenReading } from './link-target.ts';

export type TokenTrouble = 'missing' | 'malformed' | 'expired' | 'forged';

/** Which token trouble a relay refusal (close 4001) means, given the token the page sent. */
export function tokenTroubleFor(token: TokenReading, nowMs: number): TokenTrouble {
  if (token.kind === 'none') return 'missing';
  if (token.kind === 'malformed') return 'malformed';
  return token.expiresAtMs <= nowMs ? 'expired' : 'forged';
}

/** A token problem the page sees before any lending: unreadable, or already expired. */
export function tokenTroubleOnLoad(rawToken: string, nowMs: number): TokenTrouble | null {
  const reading = readToken(rawToken);
  if (reading.kind === 'malformed') return 'malformed';
  if (reading.kind === 'claims' && reading.expiresAtMs <= nowMs) return 'expired';
  return null;
}

const ASK_AGAIN = { text: 'Ask whoever sent you the link for a new one.' };

/** The words for a token trouble; `reference` names the relay's close code when it refused. */
export function explainTokenTrouble(
  trouble: TokenTrouble,
  opts: { token: TokenReading; nowMs: number; closeCode?: number },
): Explanation {
  const reference = `${opts.closeCode === undefined ? 'page' : `relay close ${opts.closeCode}`} · token ${trouble}`;
  const base = { id: 'token-refused', severity: 'error', otherSystemFixes: [], reference } as const;
  switch (trouble) {
    case 'missing':
      return {
        ...base,
        title: 'This relay needs a session link',
        cause:
          'The relay only lends to a virtual machine when the page was opened from a link with a session token, and this page has none.',
        fixes: [
          { text: 'Open the link your helpdesk sent you (it ends with #token=…).' },
          { text: 'If you have no link, ask your helpdesk for one.' },
        ],
      };
    case 'malformed':
      return {
        ...base,
        id: 'token-invalid',
        title: 'This link is damaged',
        cause:
          'The session token in the link cannot be read: part of it is probably missing, for example because the link was split over two lines when it was copied.',
        fixes: [
          {
            text: 'Open the link again from the message you got, by clicking it instead of copying it.',
          },
          ASK_AGAIN,
        ],
      };
    case 'expired': {
      const at =
        opts.token.kind === 'claims' ? formatClock(opts.token.expiresAtMs, opts.nowMs) : null;
      return {
        ...base,
        title: at === null ? 'This link has expired' : `This link expired at ${at}`,
        cause: `Session links work for a limited time${at === null ? '' : `, and this one stopped working at ${at}`}.`,
        fixes: [ASK_AGAIN],
      };
    }
    case 'forged':
      return {
        ...base,
        title: 'This link is not valid for this relay',
        cause:
          'The relay did not accept the session token: it was not issued for this relay, or it was changed after it was issued.',
        fixes: [
          { text: 'Open the link exactly as you were sent it, without changing it.' },
          ASK_AGAIN,
        ],
      };
  }
}
