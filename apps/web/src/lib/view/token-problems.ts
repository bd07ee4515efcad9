/**
 * Token failures told apart (issue 14 §6). The relay closes every token refusal with one code
 * (4001), so the page tells them apart from the token it sent: none, unreadable, past its
 * expiry, or well-formed and in date (then its signature or target is wrong: "not valid for
 * this relay"). The expiry is read from the token itself. Pure.
 *
 * The words are the catalog's (@cardlend/problems, page conditions `token-*`).
 */
import { explainFailure, type Explanation, type OsFamily } from '../errors/explain.ts';
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

/** The words for a token trouble (catalog entries `token-*`); with the relay's close code when it refused. */
export function explainTokenTrouble(
  trouble: TokenTrouble,
  opts: { token: TokenReading; nowMs: number; closeCode?: number; os?: OsFamily },
): Explanation {
  const expiredAt =
    trouble === 'expired' && opts.token.kind === 'claims'
      ? formatClock(opts.token.expiresAtMs, opts.nowMs)
      : undefined;
  return explainFailure(
    {
      kind: 'page',
      code: `token-${trouble}`,
      ...(expiredAt === undefined ? {} : { expiredAt }),
      ...(opts.closeCode === undefined ? {} : { closeCode: opts.closeCode }),
    },
    opts.os ?? 'other',
  );
}
