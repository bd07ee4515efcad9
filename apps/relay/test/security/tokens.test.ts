import { createHmac } from 'node:crypto';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  TokenLedger,
  mintToken,
  parseSecret,
  verifyToken,
  type TokenClaims,
} from '../../src/auth/tokens.ts';
import { runMintToken } from '../../src/cli/mint-token.ts';

const secretA = new Uint8Array(32).fill(0xa1);
const secretB = new Uint8Array(48).fill(0xb2);
const T0 = Date.UTC(2026, 0, 1); // unix ms

function mint(over: Partial<Parameters<typeof mintToken>[0]> = {}): string {
  return mintToken({ secret: secretA, targetId: 'vm-1', ttlSeconds: 60, nowMs: T0, ...over });
}

function decodePayload(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<
    string,
    unknown
  >;
}

function resign(secret: Uint8Array, payload: string): string {
  const body = Buffer.from(payload).toString('base64url');
  return `v1.${body}.${createHmac('sha256', secret).update(`v1.${body}`).digest('base64url')}`;
}

describe('mintToken / verifyToken', () => {
  it('round-trips the claims in the documented format', () => {
    const token = mint({ jti: 'AAAAAAAAAAAAAAAAAAAAAA' });
    expect(token).toMatch(/^v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    expect(decodePayload(token)).toEqual({
      tid: 'vm-1',
      exp: T0 / 1000 + 60,
      jti: 'AAAAAAAAAAAAAAAAAAAAAA',
      one: true,
    });
    const r = verifyToken({ token, secrets: [secretA], nowMs: T0 + 1000 });
    expect(r).toEqual({
      ok: true,
      secretIndex: 0,
      claims: { tid: 'vm-1', exp: T0 / 1000 + 60, jti: 'AAAAAAAAAAAAAAAAAAAAAA', isOneTime: true },
    });
  });

  it('mints distinct random jti values and session-bound tokens on request', () => {
    const a = decodePayload(mint());
    const b = decodePayload(mint({ isOneTime: false }));
    expect(a['jti']).not.toEqual(b['jti']);
    expect(b['one']).toBeUndefined();
  });

  it('refuses an expired token, honouring the clock skew', () => {
    const token = mint({ ttlSeconds: 10 });
    const exp = T0 + 10_000;
    expect(verifyToken({ token, secrets: [secretA], nowMs: exp - 1, clockSkewSeconds: 0 }).ok).toBe(
      true,
    );
    expect(verifyToken({ token, secrets: [secretA], nowMs: exp, clockSkewSeconds: 0 })).toEqual({
      ok: false,
      reason: 'expired',
    });
    expect(
      verifyToken({ token, secrets: [secretA], nowMs: exp + 29_000, clockSkewSeconds: 30 }).ok,
    ).toBe(true);
    expect(
      verifyToken({ token, secrets: [secretA], nowMs: exp + 30_000, clockSkewSeconds: 30 }),
    ).toEqual({
      ok: false,
      reason: 'expired',
    });
  });

  it('refuses a token signed with another secret, or with a changed payload, as forged', () => {
    const other = mint({ secret: secretB });
    expect(verifyToken({ token: other, secrets: [secretA], nowMs: T0 })).toEqual({
      ok: false,
      reason: 'forged',
    });
    const [v, , sig] = mint().split('.');
    const tampered = Buffer.from(
      JSON.stringify({ tid: 'vm-2', exp: T0 / 1000 + 60, jti: 'x'.repeat(22), one: true }),
    );
    expect(
      verifyToken({
        token: `${v}.${tampered.toString('base64url')}.${sig}`,
        secrets: [secretA],
        nowMs: T0,
      }),
    ).toEqual({ ok: false, reason: 'forged' });
    // One flipped signature bit.
    const good = mint();
    const sigBytes = Buffer.from(good.split('.')[2] ?? '', 'base64url');
    sigBytes[5] = (sigBytes[5] ?? 0) ^ 1;
    const flipped = `${good.split('.').slice(0, 2).join('.')}.${sigBytes.toString('base64url')}`;
    expect(verifyToken({ token: flipped, secrets: [secretA], nowMs: T0 })).toEqual({
      ok: false,
      reason: 'forged',
    });
  });

  it('refuses a token for another target', () => {
    const token = mint({ targetId: 'vm-2' });
    const r = verifyToken({
      token,
      secrets: [secretA],
      nowMs: T0,
      isKnownTarget: (id) => id === 'vm-1',
    });
    expect(r).toEqual({ ok: false, reason: 'unknown-target' });
  });

  it('accepts the previous secret during a rotation and reports which one signed', () => {
    const oldToken = mint({ secret: secretA });
    const newToken = mint({ secret: secretB });
    expect(verifyToken({ token: oldToken, secrets: [secretB, secretA], nowMs: T0 })).toMatchObject({
      ok: true,
      secretIndex: 1,
    });
    expect(verifyToken({ token: newToken, secrets: [secretB, secretA], nowMs: T0 })).toMatchObject({
      ok: true,
      secretIndex: 0,
    });
    // After the rotation ends, the old secret's tokens are forged.
    expect(verifyToken({ token: oldToken, secrets: [secretB], nowMs: T0 })).toEqual({
      ok: false,
      reason: 'forged',
    });
  });

  it('refuses validly signed payloads that break the schema as malformed', () => {
    const bad = [
      '[]',
      'null',
      '{"tid":"vm 1","exp":1,"jti":"AAAAAAAAAAAAAAAAAAAAAA"}',
      `{"tid":"vm-1","exp":"9999999999","jti":"AAAAAAAAAAAAAAAAAAAAAA"}`,
      `{"tid":"vm-1","exp":9999999999.5,"jti":"AAAAAAAAAAAAAAAAAAAAAA"}`,
      `{"tid":"vm-1","exp":9999999999,"jti":"short"}`,
      `{"tid":"vm-1","exp":9999999999,"jti":"AAAAAAAAAAAAAAAAAAAAAA","one":false}`,
      'not json',
    ];
    for (const payload of bad) {
      expect(
        verifyToken({ token: resign(secretA, payload), secrets: [secretA], nowMs: T0 }),
      ).toEqual({
        ok: false,
        reason: 'malformed',
      });
    }
  });

  it('refuses structurally malformed tokens', () => {
    const good = mint();
    const cases: unknown[] = [
      undefined,
      null,
      42,
      '',
      'v1',
      'v1..',
      `v2.${good.slice(3)}`,
      `${good}.extra`,
      good.replace(/.$/, '='),
      `${good}A`,
      'v1.' + 'A'.repeat(2000) + '.sig',
      good.replace('.', ' .'),
    ];
    for (const token of cases) {
      expect(verifyToken({ token, secrets: [secretA], nowMs: T0 })).toEqual({
        ok: false,
        reason: 'malformed',
      });
    }
  });

  it('never throws and only ever returns typed results for arbitrary input (fuzz)', () => {
    const good = mint();
    const reasons = new Set(['malformed', 'forged', 'expired', 'unknown-target']);
    const mutated = fc
      .tuple(
        fc.nat({ max: good.length }),
        fc.nat({ max: good.length }),
        fc.string({ maxLength: 8 }),
      )
      .map(([a, b, s]) => good.slice(0, Math.min(a, b)) + s + good.slice(Math.max(a, b)));
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 200 }), fc.anything(), mutated), (token) => {
        const r = verifyToken({
          token,
          secrets: [secretA, secretB],
          nowMs: T0,
          isKnownTarget: () => true,
        });
        if (r.ok) {
          expect(r.claims.tid).toBe('vm-1');
        } else {
          expect(reasons.has(r.reason)).toBe(true);
        }
      }),
      { numRuns: 400 },
    );
  });

  it('throws RangeError for caller mistakes only', () => {
    expect(() => mint({ secret: new Uint8Array(31) })).toThrow(RangeError);
    expect(() => mint({ targetId: 'a/b' })).toThrow(RangeError);
    expect(() => mint({ ttlSeconds: 0 })).toThrow(RangeError);
    expect(() => mint({ ttlSeconds: 1.5 })).toThrow(RangeError);
    expect(() => verifyToken({ token: 'x', secrets: [], nowMs: T0 })).toThrow(RangeError);
  });

  it('parseSecret trims whitespace and enforces the minimum length', () => {
    const text = Buffer.from(`  ${'k'.repeat(40)}\n`);
    expect(Buffer.from(parseSecret(text)).toString()).toBe('k'.repeat(40));
    expect(() => parseSecret(Buffer.from(`${'k'.repeat(31)}\n`))).toThrow(RangeError);
  });
});

describe('TokenLedger', () => {
  const claims = (over: Partial<TokenClaims> = {}): TokenClaims => ({
    tid: 'vm-1',
    exp: T0 / 1000 + 60,
    jti: 'J'.repeat(22),
    isOneTime: true,
    ...over,
  });

  it('consumes a one-time token once, even after its session ended', () => {
    const ledger = new TokenLedger();
    const first = ledger.claim({ claims: claims(), nowMs: T0 });
    expect(first.ok).toBe(true);
    expect(ledger.claim({ claims: claims(), nowMs: T0 })).toEqual({ ok: false, reason: 'used' });
    if (first.ok) first.lease.release();
    expect(ledger.claim({ claims: claims(), nowMs: T0 + 1000 })).toEqual({
      ok: false,
      reason: 'used',
    });
  });

  it('binds a session-bound token to one live session at a time', () => {
    const ledger = new TokenLedger();
    const c = claims({ isOneTime: false });
    const first = ledger.claim({ claims: c, nowMs: T0 });
    expect(ledger.claim({ claims: c, nowMs: T0 })).toEqual({ ok: false, reason: 'in-use' });
    if (!first.ok) throw new Error('first claim failed');
    first.lease.release();
    first.lease.release(); // idempotent
    const second = ledger.claim({ claims: c, nowMs: T0 + 1000 });
    expect(second.ok).toBe(true);
    expect(ledger.claim({ claims: c, nowMs: T0 })).toEqual({ ok: false, reason: 'in-use' });
  });

  it('prunes expired ids, keeps the live ones until release, and bounds memory', () => {
    const ledger = new TokenLedger({ maxEntries: 3, clockSkewSeconds: 0 });
    const live = ledger.claim({
      claims: claims({ jti: 'L'.repeat(22), exp: T0 / 1000 + 5 }),
      nowMs: T0,
    });
    const ended = ledger.claim({
      claims: claims({ jti: 'A'.repeat(22), exp: T0 / 1000 + 5 }),
      nowMs: T0,
    });
    if (ended.ok) ended.lease.release();
    ledger.claim({ claims: claims({ jti: 'B'.repeat(22), exp: T0 / 1000 + 100 }), nowMs: T0 });
    expect(ledger.claim({ claims: claims({ jti: 'C'.repeat(22) }), nowMs: T0 })).toEqual({
      ok: false,
      reason: 'full',
    });
    ledger.prune(T0 + 10_000);
    expect(ledger.size).toBe(2); // A forgotten; L is live; B unexpired
    if (!live.ok) throw new Error('live claim failed');
    live.lease.release();
    expect(ledger.size).toBe(1);
    expect(ledger.claim({ claims: claims({ jti: 'C'.repeat(22) }), nowMs: T0 + 10_000 }).ok).toBe(
      true,
    );
  });

  it('stays bounded under many random claims and prunes in expiry order', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 500 }), { minLength: 1, maxLength: 300 }),
        (ttls) => {
          const ledger = new TokenLedger({ clockSkewSeconds: 0 });
          ttls.forEach((ttl, i) => {
            const r = ledger.claim({
              claims: claims({ jti: `jti-${String(i).padStart(12, '0')}`, exp: T0 / 1000 + ttl }),
              nowMs: T0,
            });
            if (r.ok) r.lease.release();
          });
          const cut = 250;
          ledger.prune(T0 + cut * 1000);
          expect(ledger.size).toBe(ttls.filter((t) => t >= cut).length);
        },
      ),
      { numRuns: 50 },
    );
  });
});

describe('mint-token CLI', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cardlend-mint-'));
  const secretFile = join(dir, 'secret');
  writeFileSync(secretFile, `${'s'.repeat(48)}\n`);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('prints a verifiable token and a link carrying it in the fragment', () => {
    const run = runMintToken(
      [
        '--secret-file',
        secretFile,
        '--target',
        'vm-7',
        '--ttl',
        '120',
        '--base-url',
        'https://relay.example.com/',
      ],
      T0,
    );
    expect(run.exitCode).toBe(0);
    const [token, link] = run.stdout.trim().split('\n');
    expect(link).toBe(`https://relay.example.com/#token=${token}`);
    const r = verifyToken({ token, secrets: [Buffer.from('s'.repeat(48))], nowMs: T0 });
    expect(r).toMatchObject({
      ok: true,
      claims: { tid: 'vm-7', exp: T0 / 1000 + 120, isOneTime: true },
    });
  });

  it('mints reusable tokens and explains usage errors', () => {
    const run = runMintToken(['--secret-file', secretFile, '--target', 'vm-7', '--reusable'], T0);
    expect(decodePayload(run.stdout.split('\n')[0] ?? '')['one']).toBeUndefined();
    expect(runMintToken(['--target', 'vm-7'], T0)).toMatchObject({
      exitCode: 2,
      stderr: expect.stringContaining('--secret-file'),
    });
    expect(
      runMintToken(['--secret-file', secretFile, '--target', 'vm-7', '--ttl', '1h'], T0).exitCode,
    ).toBe(2);
    expect(
      runMintToken(['--secret-file', join(dir, 'missing'), '--target', 'vm-7'], T0).exitCode,
    ).toBe(2);
    expect(runMintToken(['--bogus'], T0).exitCode).toBe(2);
    expect(runMintToken(['--help'], T0)).toMatchObject({
      exitCode: 0,
      stdout: expect.stringContaining('Usage'),
    });
  });
});
