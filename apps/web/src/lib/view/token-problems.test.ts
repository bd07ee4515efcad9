import { describe, expect, it } from 'vitest';
import { explainTokenTrouble, tokenTroubleFor, tokenTroubleOnLoad } from './token-problems.ts';
import { readToken } from './link-target.ts';

const b64url = (text: string): string =>
  btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
const token = (exp: number): string =>
  `v1.${b64url(JSON.stringify({ tid: 'lab-1', exp, jti: 'abcdefghijklmnop' }))}.c2ln`;

const now = new Date(2026, 11, 6, 15, 0).getTime();
const expiredAt = new Date(2026, 11, 6, 14, 32).getTime() / 1000;
const later = now / 1000 + 3600;

describe('token troubles', () => {
  it('tells missing, malformed, expired and forged apart', () => {
    expect(tokenTroubleFor(readToken(''), now)).toBe('missing');
    expect(tokenTroubleFor(readToken('v1.zz'), now)).toBe('malformed');
    expect(tokenTroubleFor(readToken(token(expiredAt)), now)).toBe('expired');
    expect(tokenTroubleFor(readToken(token(later)), now)).toBe('forged');
  });

  it('flags a damaged or expired link on load, not a good one', () => {
    expect(tokenTroubleOnLoad('', now)).toBeNull();
    expect(tokenTroubleOnLoad(token(later), now)).toBeNull();
    expect(tokenTroubleOnLoad('v1.zz', now)).toBe('malformed');
    expect(tokenTroubleOnLoad(token(expiredAt), now)).toBe('expired');
  });

  it('words each one differently; the expiry comes from the token', () => {
    const words = (['missing', 'malformed', 'expired', 'forged'] as const).map((t) =>
      explainTokenTrouble(t, { token: readToken(token(expiredAt)), nowMs: now, closeCode: 4001 }),
    );
    expect(new Set(words.map((w) => w.title)).size).toBe(4);
    expect(words[2]?.title).toBe('This link has expired');
    expect(words[2]?.cause).toContain('stopped working at 14:32');
    expect(words[2]?.fixes[0]?.text).toMatch(/new one/);
    expect(words[3]?.title).toBe('This link is not valid for this relay');
    for (const w of words) {
      expect(w.reference).toMatch(/^relay close 4001 · token /);
      expect(w.fixes.length).toBeGreaterThan(0);
    }
    expect(explainTokenTrouble('malformed', { token: readToken('x'), nowMs: now }).reference).toBe(
      'token malformed',
    );
  });
});
