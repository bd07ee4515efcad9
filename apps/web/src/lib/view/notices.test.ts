import { describe, expect, it } from 'vitest';
import { explainFailure } from '../errors/explain.ts';
import { setup } from '../state/lending-session.fixture.ts';
import { noticeFor, problemOnLoad, refineProblem } from './notices.ts';

const b64url = (text: string): string =>
  btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
const token = (exp: number): string =>
  `v1.${b64url(JSON.stringify({ tid: 'lab-1', exp, jti: 'abcdefghijklmnop' }))}.c2ln`;
const now = Date.UTC(2026, 11, 6, 15, 0);

describe('problemOnLoad', () => {
  it('names a non-secure page first, as such (not "this browser")', () => {
    const p = problemOnLoad({
      isSecureContext: false,
      hasWebUsb: false,
      rawToken: 'v1.x',
      nowMs: now,
      os: 'linux',
    });
    expect(p?.id).toBe('insecure-context');
  });
  it('flags a damaged or expired token, and nothing for a good one', () => {
    const base = { isSecureContext: true, hasWebUsb: true, nowMs: now, os: 'linux' } as const;
    expect(problemOnLoad({ ...base, rawToken: 'v1.x' })?.title).toBe('This link is damaged');
    expect(problemOnLoad({ ...base, rawToken: token(now / 1000 - 60) })?.title).toMatch(
      /^This link has expired$/,
    );
    expect(problemOnLoad({ ...base, rawToken: token(now / 1000 + 60) })).toBeNull();
    expect(problemOnLoad({ ...base, rawToken: '' })).toBeNull();
  });
});

describe('noticeFor', () => {
  const refused = explainFailure({ kind: 'relay-closed', closeCode: 4001 }, 'linux');
  const vmGone = explainFailure({ kind: 'relay-closed', closeCode: 4011 }, 'linux');
  const base = { pageProblem: null, token: '', closeCode: 4001, nowMs: now };

  it('shows the lending problem (the lending state holds it back while retrying)', () => {
    expect(noticeFor({ ...base, sessionProblem: null })).toBeNull();
    expect(noticeFor({ ...base, sessionProblem: vmGone })).toBe(vmGone);
  });

  it('shows nothing while the bridge powers the card on again, the failure once it gave up', async () => {
    const { session, reader } = setup();
    await session.tryVirtualCard();
    const busy = {
      code: 'BRIDGE_READER_BUSY',
      message: 'x',
      source: { kind: 'pcsc', code: 'SCARD_E_SHARING_VIOLATION' },
    } as const;
    const lent = { link: 'lent', card: null, error: null } as const;
    const notice = () =>
      noticeFor({ ...base, closeCode: undefined, sessionProblem: session.problem });
    for (const attempt of [1, 2, 3]) {
      reader.link?.emit({
        ...lent,
        powerOnRetry: { attempt, maxAttempts: 3, nextAtMs: 0, error: busy },
      });
      expect(notice(), `attempt ${attempt}`).toBeNull();
      expect(session.pendingProblem?.id).toBe('reader-in-use');
    }
    reader.link?.emit({ ...lent, error: busy });
    expect(notice()?.id).toBe('reader-in-use');
    expect(notice()?.reference).toBe('SCARD_E_SHARING_VIOLATION');
  });

  it("puts the page's own problem first", () => {
    const own = explainFailure({ kind: 'relay-unreachable' }, 'linux');
    expect(noticeFor({ ...base, pageProblem: own, sessionProblem: vmGone })).toBe(own);
  });

  it('tells a refused token apart by the token sent', () => {
    expect(refused.id).toBe('token-refused');
    const titles = ['', 'v1.x', token(now / 1000 - 60), token(now / 1000 + 60)].map(
      (t) => refineProblem(refused, { token: t, closeCode: 4001, nowMs: now }).title,
    );
    expect(titles[0]).toBe('This relay needs a session link');
    expect(titles[1]).toBe('This link is damaged');
    expect(titles[2]).toBe('This link has expired');
    expect(titles[3]).toBe('This link is not valid for this relay');
    expect(refineProblem(vmGone, { token: '', closeCode: 4011, nowMs: now })).toBe(vmGone);
  });
});
