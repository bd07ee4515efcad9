import { describe, expect, it } from 'vitest';
import {
  defaultRelayUrl,
  normalizeRelayUrl,
  normalizeToken,
  parseLaunchParams,
} from './launch-params.ts';

describe('parseLaunchParams', () => {
  it('defaults to the page origin + /vscard, no token, vendor-class demo', () => {
    expect(parseLaunchParams('https://relay.example:8443/')).toEqual({
      relayUrl: 'wss://relay.example:8443/vscard',
      token: '',
      demo: 'vendorClass',
      relayProblem: null,
    });
    expect(defaultRelayUrl('http://127.0.0.1:8080/index.html?x=1')).toBe(
      'ws://127.0.0.1:8080/vscard',
    );
  });

  it('takes relay and token from the query', () => {
    const p = parseLaunchParams(
      'http://127.0.0.1:5173/?relay=ws://10.0.0.2:9000/vscard&token=abc_DEF-1',
    );
    expect(p.relayUrl).toBe('ws://10.0.0.2:9000/vscard');
    expect(p.token).toBe('abc_DEF-1');
  });

  it('prefers the token in the fragment', () => {
    const p = parseLaunchParams('https://r.example/?token=fromquery#token=fromfragment');
    expect(p.token).toBe('fromfragment');
  });

  it('drops a token with characters a subprotocol cannot carry', () => {
    expect(parseLaunchParams('https://r.example/?token=a%20b').token).toBe('');
  });

  it('never falls back to the page relay: a relay it cannot use stays as given, with the reason', () => {
    const p = parseLaunchParams('https://r.example/?relay=ftp://x');
    expect(p.relayUrl).toBe('ftp://x');
    expect(normalizeRelayUrl(p.relayUrl, 'https://r.example/').ok).toBe(false);
    expect(p.relayProblem).toMatch(/wss:\/\//);
  });

  it('accepts the documented demo profiles only', () => {
    expect(parseLaunchParams('http://h/?demo=protectedClass').demo).toBe('protectedClass');
    expect(parseLaunchParams('http://h/?demo=heldByOtherProgram').demo).toBe('heldByOtherProgram');
    expect(parseLaunchParams('http://h/?demo=__proto__').demo).toBe('vendorClass');
    expect(parseLaunchParams('http://h/?demo=toString').demo).toBe('vendorClass');
  });
});

describe('normalizeRelayUrl', () => {
  const page = 'https://page.example/';
  it.each([
    ['wss://r.example/vscard', 'wss://r.example/vscard'],
    ['https://r.example', 'wss://r.example/vscard'],
    ['http://r.example:8080/', 'ws://r.example:8080/vscard'],
    ['r.example:8080', 'wss://r.example:8080/vscard'],
    ['  ws://127.0.0.1:1234/custom  ', 'ws://127.0.0.1:1234/custom'],
    ['wss://r.example/vscard#frag', 'wss://r.example/vscard'],
  ])('%s → %s', (input, expected) => {
    expect(normalizeRelayUrl(input, page)).toEqual({ ok: true, url: expected });
  });

  it.each(['', '   ', 'ftp://r.example', 'ws://user:pw@r.example/vscard', 'ws://'])(
    'refuses %j with a reason',
    (input) => {
      const r = normalizeRelayUrl(input, page);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.reason.length).toBeGreaterThan(10);
    },
  );
});

describe('normalizeToken', () => {
  it('trims and accepts base64url and dotted tokens', () => {
    expect(normalizeToken(' eyJhbGciOi.J9-_~ ')).toEqual({ ok: true, token: 'eyJhbGciOi.J9-_~' });
    expect(normalizeToken('')).toEqual({ ok: true, token: '' });
  });
  it('refuses separators', () => {
    expect(normalizeToken('a,b').ok).toBe(false);
    expect(normalizeToken('a b').ok).toBe(false);
  });
});
