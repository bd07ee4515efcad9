import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  canonicalIp,
  parseForwardedFor,
  parseTrustedProxies,
  resolveClientAddress,
} from '../../src/auth/forwarded.ts';

describe('IP parsing', () => {
  it.each([
    ['192.0.2.1', '192.0.2.1'],
    ['::1', '::1'],
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['[2001:db8::1]', '2001:db8::1'],
    ['::ffff:127.0.0.1', '127.0.0.1'],
    ['::ffff:7f00:1', '127.0.0.1'],
    ['64:ff9b::192.0.2.33', '64:ff9b::c000:221'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['::', '::'],
  ])('%s is %s (RFC 5952, IPv4-mapped folded)', (text, canonical) => {
    expect(canonicalIp(text)).toBe(canonical);
  });

  it.each([
    '',
    'unknown',
    '1.2.3',
    '256.0.0.1',
    '1::2::3',
    'fe80::1%eth0',
    '_hidden',
    '1.2.3.4:80',
  ])('refuses %j', (bad) => expect(canonicalIp(bad)).toBeNull());

  it('canonical text is a fixed point for any address', () => {
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6()), (text) => {
        const canonical = canonicalIp(text);
        expect(canonical).not.toBeNull();
        expect(canonicalIp(canonical as string)).toBe(canonical);
      }),
      { numRuns: 300 },
    );
  });

  const blocks = parseTrustedProxies([
    '10.1.0.0/16',
    '2001:db8:abcd::/48',
    '::ffff:10.200.0.0/112',
  ]);
  it.each([
    ['10.1.255.3', true],
    ['10.2.0.1', false],
    ['::ffff:10.1.2.3', true],
    ['2001:db8:abcd:12::1', true],
    ['2001:db8:abce::1', false],
    ['10.200.0.1', true], // an IPv4-mapped block holds the IPv4 address
    ['10.201.0.1', false],
  ])('CIDR blocks of both families: %s → %s', (address, isIn) => {
    expect(blocks.contains(address)).toBe(isIn);
  });

  it.each(['10.0.0.0/33', '::/129', '10.0.0.0/', '10.0.0.0/a', 'x/8'])(
    'refuses the block %j',
    (bad) => expect(() => parseTrustedProxies([bad])).toThrow(RangeError),
  );

  it('a bare address is a single-address block', () => {
    const one = parseTrustedProxies(['10.0.0.1']);
    expect(one.contains('10.0.0.1')).toBe(true);
    expect(one.contains('10.0.0.2')).toBe(false);
  });

  it('names the bad entry of a trusted-proxy list', () => {
    expect(() => parseTrustedProxies(['10.0.0.0/8', 'proxy.example.com'])).toThrow(
      /proxy\.example\.com/,
    );
    const t = parseTrustedProxies(['loopback']);
    expect(t.contains('127.0.0.1')).toBe(true);
    expect(t.contains('::1')).toBe(true);
    expect(t.contains('::ffff:127.0.0.1')).toBe(true);
    expect(t.contains('10.0.0.1')).toBe(false);
    expect(t.contains('nonsense')).toBe(false);
  });
});

describe('resolveClientAddress', () => {
  const trusted = parseTrustedProxies(['10.0.0.0/8', '2001:db8:ffff::/48']);
  const resolve = (peerAddress: string | undefined, headers: Record<string, string>) =>
    resolveClientAddress({ peerAddress, headers, trustedProxies: trusted });

  it('ignores forwarded headers from an untrusted peer', () => {
    expect(resolve('198.51.100.7', { 'x-forwarded-for': '1.2.3.4' })).toBe('198.51.100.7');
    expect(resolve('::ffff:198.51.100.7', { forwarded: 'for=1.2.3.4' })).toBe('198.51.100.7');
    const none = parseTrustedProxies([]);
    expect(
      resolveClientAddress({
        peerAddress: '10.0.0.1',
        headers: { 'x-forwarded-for': '1.2.3.4' },
        trustedProxies: none,
      }),
    ).toBe('10.0.0.1');
  });

  it('takes the rightmost untrusted hop of X-Forwarded-For from a trusted peer', () => {
    expect(resolve('10.0.0.2', { 'x-forwarded-for': '203.0.113.9' })).toBe('203.0.113.9');
    // The client forged the leftmost entry; the proxies appended the real one.
    expect(resolve('10.0.0.2', { 'x-forwarded-for': '6.6.6.6, 203.0.113.9, 10.0.0.5' })).toBe(
      '203.0.113.9',
    );
    expect(resolve('10.0.0.2', { 'x-forwarded-for': '10.0.0.9, 10.0.0.5' })).toBe('10.0.0.9');
    expect(resolve('10.0.0.2', {})).toBe('10.0.0.2');
  });

  it('stops at a hop that is not an address, so a forger cannot choose the result', () => {
    expect(resolve('10.0.0.2', { 'x-forwarded-for': '6.6.6.6, garbage' })).toBe('10.0.0.2');
    expect(resolve('10.0.0.2', { 'x-forwarded-for': '6.6.6.6, unknown, 10.0.0.7' })).toBe(
      '10.0.0.7',
    );
  });

  it('prefers the RFC 7239 Forwarded header, with quoted IPv6 and ports', () => {
    expect(
      parseForwardedFor(
        'for="[2001:db8:cafe::17]:4711";proto=https, for=192.0.2.60:80;by=10.0.0.1',
      ),
    ).toEqual(['2001:db8:cafe::17', '192.0.2.60']);
    expect(
      resolve('2001:db8:ffff::1', {
        forwarded: 'for="[2001:db8:cafe::17]:4711"',
        'x-forwarded-for': '6.6.6.6',
      }),
    ).toBe('2001:db8:cafe::17');
    expect(resolve('10.0.0.2', { forwarded: 'for=_hidden, for=10.0.0.3' })).toBe('10.0.0.3');
    expect(resolve('10.0.0.2', { forwarded: 'For=198.51.100.17' })).toBe('198.51.100.17');
  });

  it('answers "unknown" without a peer and never throws on arbitrary headers', () => {
    expect(resolve(undefined, {})).toBe('unknown');
    fc.assert(
      fc.property(fc.string({ maxLength: 100 }), fc.string({ maxLength: 100 }), (xff, fwd) => {
        const r = resolve('10.0.0.2', { 'x-forwarded-for': xff, forwarded: fwd });
        expect(canonicalIp(r)).toBe(r);
      }),
      { numRuns: 300 },
    );
  });
});
