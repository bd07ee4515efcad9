import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseClientOffer, type ClientOffer } from '../../src/admission/offer.ts';
import {
  armAuthDeadline,
  createOriginPolicy,
  isLoopbackHost,
  MAX_ORIGIN_CHARS,
  parseAuthMessage,
  selectSubprotocol,
} from '../../src/auth/origin.ts';
import { MAX_TOKEN_CHARS } from '../../src/auth/tokens.ts';

describe('origin policy', () => {
  const publicPolicy = createOriginPolicy({
    isLoopbackListener: false,
    allowedOrigins: [
      'https://helpdesk.example.com',
      'https://*.corp.example.org',
      'http://intranet.local:8443',
    ],
  });
  const check = (origin: string | undefined, host = 'relay.example.net') =>
    publicPolicy.check({ origin, host });

  it('allows exact origins, ignoring case', () => {
    expect(check('https://helpdesk.example.com')).toEqual({ ok: true });
    expect(check('https://HELPDESK.example.com')).toEqual({ ok: true });
    // RFC 6454 §6.2: browsers serialise without the default port; a non-canonical form is refused.
    expect(check('https://helpdesk.example.com:443').ok).toBe(false);
    expect(check('http://intranet.local:8443')).toEqual({ ok: true });
  });

  it('refuses other schemes, ports, hosts and look-alikes', () => {
    for (const o of [
      'http://helpdesk.example.com',
      'https://helpdesk.example.com:8443',
      'https://helpdesk.example.com.evil.net',
      'https://evilhelpdesk.example.com',
      'http://intranet.local',
      'null',
      'https://helpdesk.example.com/path',
      'file:///etc/passwd',
      'garbage',
    ]) {
      expect(check(o)).toEqual({ ok: false, reason: 'origin-refused' });
    }
  });

  it('matches wildcard patterns on subdomains only', () => {
    expect(check('https://a.corp.example.org')).toEqual({ ok: true });
    expect(check('https://a.b.corp.example.org')).toEqual({ ok: true });
    expect(check('https://corp.example.org').ok).toBe(false);
    expect(check('https://acorp.example.org').ok).toBe(false);
    expect(check('https://a.corp.example.org.evil.net').ok).toBe(false);
    expect(check('http://a.corp.example.org').ok).toBe(false);
  });

  it(`refuses an Origin longer than ${MAX_ORIGIN_CHARS} characters, even one a pattern allows`, () => {
    const suffix = '.corp.example.org';
    const longest = (n: number) => `https://${'a'.repeat(n - 8 - suffix.length)}${suffix}`;
    expect(longest(MAX_ORIGIN_CHARS)).toHaveLength(MAX_ORIGIN_CHARS);
    expect(check(longest(MAX_ORIGIN_CHARS))).toEqual({ ok: true });
    expect(check(longest(MAX_ORIGIN_CHARS + 1))).toEqual({ ok: false, reason: 'origin-too-long' });
    // The relay's own page too (its Host header as long).
    const own = longest(MAX_ORIGIN_CHARS + 1);
    expect(check(own, new URL(own).host)).toEqual({ ok: false, reason: 'origin-too-long' });
  });

  it('allows the relay page itself (same origin) and a native client (no Origin), not a foreign page', () => {
    expect(check('https://relay.example.net', 'relay.example.net')).toEqual({ ok: true });
    expect(check('https://relay.example.net:9443', 'relay.example.net:9443')).toEqual({ ok: true });
    expect(check('https://relay.example.net', 'relay.example.net:443')).toEqual({ ok: true });
    expect(check('https://evil.example.net', 'relay.example.net').ok).toBe(false);
    // Browsers always send Origin on a WebSocket handshake: none means a native client.
    expect(check(undefined)).toEqual({ ok: true });
    const browsersOnly = createOriginPolicy({
      isLoopbackListener: false,
      isMissingOriginAllowed: false,
    });
    expect(browsersOnly.check({ origin: undefined, host: 'relay.example.net' })).toEqual({
      ok: false,
      reason: 'origin-missing',
    });
    const strict = createOriginPolicy({ isLoopbackListener: false, isSameOriginAllowed: false });
    expect(
      strict.check({ origin: 'https://relay.example.net', host: 'relay.example.net' }).ok,
    ).toBe(false);
  });

  it('on a loopback listener allows loopback pages on any port, and nothing else by default', () => {
    const local = createOriginPolicy({ isLoopbackListener: true });
    expect(local.check({ origin: 'http://127.0.0.1:8080', host: '127.0.0.1:8080' })).toEqual({
      ok: true,
    });
    expect(local.check({ origin: 'http://localhost:5173', host: 'localhost:5173' })).toEqual({
      ok: true,
    });
    expect(local.check({ origin: 'http://[::1]:8080', host: '[::1]:8080' })).toEqual({ ok: true });
    expect(local.check({ origin: undefined, host: '127.0.0.1:8080' })).toEqual({ ok: true });
    // DNS rebinding: the page's host is not loopback, even though Host matches it.
    expect(local.check({ origin: 'http://evil.example:8080', host: 'evil.example:8080' }).ok).toBe(
      false,
    );
    expect(local.check({ origin: 'https://evil.example', host: '127.0.0.1:8080' }).ok).toBe(false);
  });

  it('rejects bad patterns at configuration time with the pattern named', () => {
    expect(() => createOriginPolicy({ isLoopbackListener: false, allowedOrigins: ['*'] })).toThrow(
      /"\*"/,
    );
    expect(() =>
      createOriginPolicy({ isLoopbackListener: false, allowedOrigins: ['https://*.com'] }),
    ).toThrow(RangeError);
    expect(() =>
      createOriginPolicy({ isLoopbackListener: false, allowedOrigins: ['example.com'] }),
    ).toThrow(RangeError);
    expect(() =>
      createOriginPolicy({
        isLoopbackListener: false,
        allowedOrigins: ['https://a.*.example.com'],
      }),
    ).toThrow(RangeError);
  });

  it('never throws on arbitrary Origin and Host headers', () => {
    fc.assert(
      fc.property(
        fc.option(fc.string({ maxLength: 80 }), { nil: undefined }),
        fc.option(fc.string(), { nil: undefined }),
        (origin, host) => {
          const r = publicPolicy.check({ origin, host });
          expect(typeof r.ok).toBe('boolean');
        },
      ),
      { numRuns: 300 },
    );
  });

  it('recognises loopback hosts', () => {
    for (const h of [
      '127.0.0.1',
      '127.8.9.10',
      'localhost',
      'LOCALHOST',
      '::1',
      '[::1]',
      'app.localhost',
      '::ffff:127.0.0.1',
    ]) {
      expect(isLoopbackHost(h)).toBe(true);
    }
    for (const h of ['0.0.0.0', '::', '10.0.0.1', 'example.com', '128.0.0.1', '::2'])
      expect(isLoopbackHost(h)).toBe(false);
  });
});

describe('token in Sec-WebSocket-Protocol (read by parseClientOffer)', () => {
  const NOTHING: ClientOffer = {
    hasVscardProtocol: false,
    offeredToken: { token: null, hasSeveralTokens: false },
    resumeTicket: null,
    isResumeCapable: false,
  };

  it('extracts the token and never selects it as the subprotocol', () => {
    const header = 'cardlend.vscard.v1, cardlend.token.v1.abc.def';
    expect(parseClientOffer(header)).toEqual({
      ...NOTHING,
      hasVscardProtocol: true,
      offeredToken: { token: 'v1.abc.def', hasSeveralTokens: false },
    });
    expect(selectSubprotocol(new Set(['cardlend.token.v1.abc.def', 'cardlend.vscard.v1']))).toBe(
      'cardlend.vscard.v1',
    );
    expect(selectSubprotocol(new Set(['cardlend.token.v1.abc.def']))).toBe(false);
  });

  it('handles missing, empty, repeated and oversized tokens', () => {
    expect(parseClientOffer(undefined)).toEqual(NOTHING);
    expect(parseClientOffer('cardlend.vscard.v1')).toEqual({ ...NOTHING, hasVscardProtocol: true });
    expect(parseClientOffer('cardlend.token.')).toEqual(NOTHING);
    // Several tokens: no token, and the flag the token step refuses as a malformed token.
    expect(parseClientOffer('cardlend.token.a,cardlend.token.b')).toEqual({
      ...NOTHING,
      offeredToken: { token: null, hasSeveralTokens: true },
    });
    expect(parseClientOffer(`cardlend.token.${'a'.repeat(MAX_TOKEN_CHARS + 1)}`)).toEqual(NOTHING);
    expect(parseClientOffer(['cardlend.vscard.v1', 'cardlend.token.xyz'])).toEqual({
      ...NOTHING,
      hasVscardProtocol: true,
      offeredToken: { token: 'xyz', hasSeveralTokens: false },
    });
  });
});

describe('first-message auth', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('accepts exactly {"token": string} in a text frame', () => {
    expect(parseAuthMessage('{"token":"v1.a.b"}', false)).toEqual({ ok: true, token: 'v1.a.b' });
    expect(parseAuthMessage(new TextEncoder().encode('{"token":"v1.a.b"}'), false)).toEqual({
      ok: true,
      token: 'v1.a.b',
    });
    for (const bad of [
      '{"token":"v1.a.b"}',
      '',
      '[]',
      'null',
      '{"token":1}',
      '{"token":""}',
      '{"token":"a","x":1}',
      '{',
      `{"token":"${'a'.repeat(3000)}"}`,
    ]) {
      const isBinary = bad === '{"token":"v1.a.b"}';
      expect(parseAuthMessage(bad, isBinary)).toEqual({ ok: false, reason: 'bad-auth-message' });
    }
  });

  it('never throws on arbitrary frames', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.boolean(), (bytes, isBinary) => {
        expect(typeof parseAuthMessage(bytes, isBinary).ok).toBe('boolean');
      }),
      { numRuns: 300 },
    );
  });

  it('fires the deadline once unless settled in time', () => {
    vi.useFakeTimers();
    const onExpire = vi.fn();
    const late = armAuthDeadline({ timeoutMs: 1000, onExpire });
    vi.advanceTimersByTime(999);
    expect(onExpire).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(onExpire).toHaveBeenCalledTimes(1);
    expect(late.isExpired).toBe(true);
    expect(late.settle()).toBe(false);

    const onExpire2 = vi.fn();
    const inTime = armAuthDeadline({ timeoutMs: 1000, onExpire: onExpire2 });
    expect(inTime.settle()).toBe(true);
    expect(inTime.settle()).toBe(true);
    vi.advanceTimersByTime(5000);
    expect(onExpire2).not.toHaveBeenCalled();
    expect(() => armAuthDeadline({ timeoutMs: 0, onExpire })).toThrow(RangeError);
  });
});
