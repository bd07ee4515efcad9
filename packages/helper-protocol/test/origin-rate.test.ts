import { describe, expect, it } from 'vitest';
import { isApprovableOrigin, parseOrigin, TokenBucket } from '../src/index.ts';

describe('parseOrigin', () => {
  it.each([
    ['https://Example.ORG', 'https://example.org'],
    ['https://example.org:443', 'https://example.org'],
    ['http://127.0.0.1:8080', 'http://127.0.0.1:8080'],
    ['http://localhost:80', 'http://localhost'],
    ['https://[::1]:8443', 'https://[::1]:8443'],
  ])('%s → %s', (header, text) => {
    expect(parseOrigin(header)?.text).toBe(text);
  });

  it.each([
    undefined,
    '',
    'null',
    'file://',
    'chrome-extension://abcdef',
    'https://example.org/',
    'https://user@example.org',
    'https://example.org:0',
    'https://example.org:65536',
    'https://exa mple.org',
    `https://${'a'.repeat(400)}.org`,
  ])('refuses %s', (header) => {
    expect(parseOrigin(header)).toBeNull();
  });

  it('approves https and pages of this computer only', () => {
    const ok = ['https://example.org', 'http://localhost:5173', 'http://127.0.0.1:8080'];
    for (const o of ok) expect(isApprovableOrigin(parseOrigin(o)!)).toBe(true);
    expect(isApprovableOrigin(parseOrigin('http://example.org')!)).toBe(false);
    expect(isApprovableOrigin(parseOrigin('http://127.0.0.1.evil.org')!)).toBe(false);
  });
});

describe('TokenBucket', () => {
  it('allows the burst, then the rate', () => {
    const b = new TokenBucket(10, 5, 0);
    for (let i = 0; i < 5; i++) expect(b.take(0)).toBe(true);
    expect(b.take(0)).toBe(false);
    expect(b.take(99)).toBe(false);
    expect(b.take(100)).toBe(true);
    expect(b.take(100)).toBe(false);
    expect(b.take(10_000)).toBe(true);
  });

  it('does not refill when the clock goes back', () => {
    const b = new TokenBucket(10, 1, 1000);
    expect(b.take(1000)).toBe(true);
    expect(b.take(0)).toBe(false);
    expect(b.take(1000)).toBe(false);
  });
});
