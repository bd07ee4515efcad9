/**
 * Which notice the page shows, in one place: a problem the page found itself (on load, or
 * before lending) wins; the lending state's problem shows only when the page view allows it
 * (never while the bridge still retries), with token refusals told apart. Pure.
 */
import { explainFailure, type Explanation, type OsFamily } from '../errors/explain.ts';
import { readToken } from './link-target.ts';
import { explainTokenTrouble, tokenTroubleFor, tokenTroubleOnLoad } from './token-problems.ts';

/** A problem visible on load: a non-secure (http) page, then a damaged or expired link. */
export function problemOnLoad(opts: {
  isSecureContext: boolean;
  hasWebUsb: boolean;
  rawToken: string;
  nowMs: number;
  os: OsFamily;
}): Explanation | null {
  if (!opts.isSecureContext && !opts.hasWebUsb) {
    return explainFailure({ kind: 'no-webusb', isSecureContext: false }, opts.os);
  }
  const trouble = tokenTroubleOnLoad(opts.rawToken, opts.nowMs);
  if (trouble === null) return null;
  return explainTokenTrouble(trouble, {
    token: readToken(opts.rawToken),
    nowMs: opts.nowMs,
    os: opts.os,
  });
}

/** The lending state's problem as shown: token refusals become missing/malformed/expired/forged. */
export function refineProblem(
  problem: Explanation,
  opts: { token: string; closeCode: number | undefined; nowMs: number; os?: OsFamily },
): Explanation {
  if (problem.id !== 'token-refused') return problem;
  const token = readToken(opts.token);
  const trouble = tokenTroubleFor(token, opts.nowMs);
  return explainTokenTrouble(trouble, {
    token,
    nowMs: opts.nowMs,
    ...(opts.os === undefined ? {} : { os: opts.os }),
    ...(opts.closeCode === undefined ? {} : { closeCode: opts.closeCode }),
  });
}

/**
 * The one notice shown: the page's own problem first, else the lending state's (which holds a
 * link error back while the bridge retries: `LendingSession.pendingProblem`).
 */
export function noticeFor(opts: {
  pageProblem: Explanation | null;
  sessionProblem: Explanation | null;
  token: string;
  closeCode: number | undefined;
  nowMs: number;
  os?: OsFamily;
}): Explanation | null {
  if (opts.pageProblem !== null) return opts.pageProblem;
  if (opts.sessionProblem === null) return null;
  return refineProblem(opts.sessionProblem, opts);
}
