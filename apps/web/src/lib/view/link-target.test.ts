import { describe, expect, it } from 'vitest';
import { formatClock, readAskedBy, readLinkTarget, readRelay, readToken } from './link-target.ts';

const b64url = (text: string): string =>
  btoa(String.fromCharCode(...new TextEncoder().encode(text)))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');
const token = (payload: unknown): string => `v1.${b64url(JSON.stringify(payload))}.c2lnbmF0dXJl`;

describe('readToken', () => {
  it('reads the target id, expiry and single use without verifying', () => {
    expect(
      readToken(token({ tid: 'lab-1', exp: 1_800_000_000, jti: 'x'.repeat(22), one: true })),
    ).toEqual({
      kind: 'claims',
      targetId: 'lab-1',
      expiresAtMs: 1_800_000_000_000,
      isOneTime: true,
    });
    expect(readToken(` ${token({ tid: 'vm.2', exp: 5 })} `)).toMatchObject({ isOneTime: false });
  });

  it('tells no token from a damaged one', () => {
    expect(readToken('')).toEqual({ kind: 'none' });
    expect(readToken('   ')).toEqual({ kind: 'none' });
    for (const bad of [
      'abc',
      'v1.abc',
      'v2.' + token({ tid: 'a', exp: 1 }).slice(3),
      `v1.${b64url('not json')}.sig`,
      `v1.${b64url('[1]')}.sig`,
      token({ tid: 'a b', exp: 1 }),
      token({ tid: 'a', exp: 'soon' }),
      token({ exp: 1 }),
      `v1.${b64url('{"tid":"a","exp":1}')}.s!g`,
      'v1.@@@.sig',
    ]) {
      expect(readToken(bad), bad).toEqual({ kind: 'malformed' });
    }
  });

  it('never throws on random strings', () => {
    for (let i = 0; i < 500; i++) {
      const s = Array.from({ length: i % 40 }, () =>
        String.fromCharCode(32 + Math.floor(Math.random() * 95)),
      ).join('');
      expect(() => readToken(s)).not.toThrow();
      expect(() => readToken(`v1.${s}.${s}`)).not.toThrow();
    }
  });
});

describe('readRelay', () => {
  it('names the host and whether it is the page itself', () => {
    expect(readRelay('wss://relay.example.com/vscard', 'https://relay.example.com/')).toEqual({
      ok: true,
      url: 'wss://relay.example.com/vscard',
      host: 'relay.example.com',
      httpUrl: 'https://relay.example.com/',
      isPageOrigin: true,
    });
    expect(readRelay('ws://10.0.0.2:9000', 'https://page.example/')).toMatchObject({
      host: '10.0.0.2:9000',
      httpUrl: 'http://10.0.0.2:9000/',
      isPageOrigin: false,
    });
  });
  it('refuses what it cannot use', () => {
    expect(readRelay('ftp://x', 'https://p/')).toMatchObject({ ok: false });
  });
});

describe('readAskedBy', () => {
  it('shows the link\'s "from" as plain, short text', () => {
    expect(readAskedBy('https://p/?from=IT%20helpdesk')).toBe('IT helpdesk');
    expect(readAskedBy('https://p/?from=%20%0a%20')).toBeNull();
    expect(readAskedBy('https://p/')).toBeNull();
    expect(readAskedBy(`https://p/?from=${'a'.repeat(100)}`)).toHaveLength(60);
    expect(readAskedBy('https://p/?from=a%0Ab')).toBe('a b');
  });
});

describe('formatClock', () => {
  it('gives the time today, and the date otherwise', () => {
    const now = new Date(2026, 11, 6, 15, 0).getTime();
    expect(formatClock(new Date(2026, 11, 6, 14, 32).getTime(), now)).toBe('14:32');
    expect(formatClock(new Date(2026, 11, 5, 9, 5).getTime(), now)).toBe('09:05 on 5 Dec 2026');
  });
});

describe('readLinkTarget', () => {
  it('combines the token target, relay host and who asked', () => {
    const t = readLinkTarget({
      relayInput: 'wss://relay.example.com/vscard',
      tokenInput: token({ tid: 'lab-1', exp: 2_000_000_000 }),
      pageUrl: 'https://relay.example.com/?from=Helpdesk',
    });
    expect(t).toMatchObject({ vm: 'lab-1', relayHost: 'relay.example.com', askedBy: 'Helpdesk' });
  });
});
