import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseLink } from '../src/link.ts';
import { decodeTokenClaims, describeExpiry } from '../src/token-claims.ts';

/** A token as apps/relay mints it (signature bytes are not checked by the CLI). */
function v1Token(payload: object): string {
  return `v1.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${'A'.repeat(43)}`;
}
const TOKEN = v1Token({ tid: 'vm-42', exp: 1_800_000_000, jti: 'abcdefghijklmnop', one: true });

describe('parseLink', () => {
  const ok: [string, string | undefined, string, string, string][] = [
    // link, --token, relayUrl, token, tokenSource
    [
      `https://relay.example/#token=${TOKEN}`,
      undefined,
      'wss://relay.example/vscard',
      TOKEN,
      'link',
    ],
    // mint-token's default base URL
    [
      `http://127.0.0.1:8080/#token=${TOKEN}`,
      undefined,
      'ws://127.0.0.1:8080/vscard',
      TOKEN,
      'link',
    ],
    // the page's path does not move the relay (the page uses its origin + /vscard)
    [
      'https://relay.example/app/index.html#token=t1',
      undefined,
      'wss://relay.example/vscard',
      't1',
      'link',
    ],
    // relay= in the query (as the page reads it), http → ws
    [
      'https://page.example/?relay=https://relay.example:9443/base/vscard#token=t2',
      undefined,
      'wss://relay.example:9443/base/vscard',
      't2',
      'link',
    ],
    // relay= in the fragment, scheme-less: the link's scheme decides
    [
      'https://page.example/#relay=relay.example:9000&token=t3',
      undefined,
      'wss://relay.example:9000/vscard',
      't3',
      'link',
    ],
    // a relay address
    ['wss://relay.example/vscard', 'tok', 'wss://relay.example/vscard', 'tok', 'option'],
    ['ws://127.0.0.1:8080', undefined, 'ws://127.0.0.1:8080/vscard', '', 'none'],
    ['ws://127.0.0.1:8080/', undefined, 'ws://127.0.0.1:8080/vscard', '', 'none'],
    ['wss://relay.example/custom', undefined, 'wss://relay.example/custom', '', 'none'],
    ['https://relay.example/vscard/', undefined, 'wss://relay.example/vscard', '', 'none'],
    // --token wins over the link's; fragment over query
    [
      'https://relay.example/#token=fromlink',
      'fromoption',
      'wss://relay.example/vscard',
      'fromoption',
      'option',
    ],
    [
      'https://r.example/?token=fromquery#token=fromfragment',
      undefined,
      'wss://r.example/vscard',
      'fromfragment',
      'link',
    ],
    [
      'https://r.example/?token=fromquery',
      undefined,
      'wss://r.example/vscard',
      'fromquery',
      'link',
    ],
    // surrounding whitespace (copied from a mail)
    ['  https://r.example/#token=t4 \n', undefined, 'wss://r.example/vscard', 't4', 'link'],
    ['HTTPS://R.EXAMPLE/#token=t5', undefined, 'wss://r.example/vscard', 't5', 'link'],
  ];
  it.each(ok)('%s (--token %s) → %s', (link, option, relayUrl, token, tokenSource) => {
    const r = parseLink(link, option);
    expect(r).toEqual({ ok: true, target: { relayUrl, token, tokenSource } });
  });

  const bad: [string, string | undefined, string][] = [
    ['', undefined, 'link-empty'],
    ['   ', undefined, 'link-empty'],
    ['relay.example/#token=x', undefined, 'link-not-url'],
    [TOKEN, undefined, 'link-not-url'],
    ['ftp://relay.example/', undefined, 'link-scheme'],
    ['file:///etc/passwd', undefined, 'link-scheme'],
    ['https://user:pw@relay.example/', undefined, 'link-credentials'],
    ['https://relay.example/?relay=ftp://x', undefined, 'link-scheme'],
    ['https://relay.example/#token=a%20b', undefined, 'token-chars'],
    ['https://relay.example/', 'bad token', 'token-chars'],
  ];
  it.each(bad)('%j (--token %s) is refused: %s', (link, option, code) => {
    const r = parseLink(link, option);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.problem.code).toBe(code);
      expect(r.problem.message.length).toBeGreaterThan(10);
    }
  });

  it('never throws, and what it accepts is a ws(s) URL without credentials, query or fragment', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string(), fc.webUrl({ withFragments: true, withQueryParameters: true })),
        (s) => {
          const r = parseLink(s);
          if (r.ok) {
            const u = new URL(r.target.relayUrl);
            expect(['ws:', 'wss:']).toContain(u.protocol);
            expect(u.username + u.password + u.search + u.hash).toBe('');
            expect(r.target.token).toMatch(/^[A-Za-z0-9._~-]*$/);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('decodeTokenClaims (unverified)', () => {
  it.each([
    [TOKEN, { targetId: 'vm-42', expiresAtSec: 1_800_000_000, isOneTime: true }],
    [
      v1Token({ tid: 'default', exp: 5, jti: 'x' }),
      { targetId: 'default', expiresAtSec: 5, isOneTime: false },
    ],
  ])('%s', (token, claims) => {
    expect(decodeTokenClaims(token)).toEqual(claims);
  });

  it.each([
    ['', 'empty'],
    ['opaque-token', 'not v1'],
    ['v2.e30.sig', 'other version'],
    ['v1.!!!.sig', 'bad base64url'],
    [`v1.${Buffer.from('not json').toString('base64url')}.s`, 'not JSON'],
    [v1Token({ tid: 'has space', exp: 1 }), 'bad target id'],
    [v1Token({ tid: 'vm', exp: '1' }), 'exp not a number'],
    [v1Token({ exp: 1 }), 'no tid'],
    [`v1.${'A'.repeat(1100)}.s`, 'too long'],
    ['v1.e30', 'two parts'],
  ])('%s → null (%s)', (token) => {
    expect(decodeTokenClaims(token)).toBeNull();
  });
});

describe('describeExpiry', () => {
  const now = 1_000_000_000_000;
  it.each([
    [now / 1000 + 30, 'expires in 30 s'],
    [now / 1000 + 600, 'expires in 10 min'],
    [now / 1000 + 7200, 'expires in 2 h'],
    [now / 1000 + 7 * 86400, 'expires in 7 days'],
    [now / 1000 - 120, 'expired 2 min ago'],
  ])('%d → %s', (exp, words) => {
    expect(describeExpiry(exp, now)).toBe(words);
  });
});
