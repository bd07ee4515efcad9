/** The resume hello of the internal link: signed over ticket, origin and subprotocol, used once. */
import { RELAY_SUBPROTOCOL } from '@cardlend/vscard';
import { describe, expect, it } from 'vitest';
import { MAX_ORIGIN_CHARS } from '../../src/auth/origin.ts';
import {
  checkHello,
  linkKey,
  MAX_HELLO_BYTES,
  signHello,
  signResumeHello,
  type ResumeRequest,
} from '../../src/cluster/link-auth.ts';

const KEY = linkKey(new Uint8Array(32).fill(3));
const T0 = 1_800_000_000_000;
const TICKET = 'r1.ABCDEFGHIJKLMNOPQRSTUV';
const REQUEST: ResumeRequest = {
  ticket: TICKET,
  origin: 'https://a.example',
  protocol: RELAY_SUBPROTOCOL,
};

const line = (request = REQUEST, key = KEY, ts = T0): string =>
  signResumeHello(key, request, 'b', ts).trimEnd();

/** `line` with one JSON field changed (the MAC left as it was). */
function altered(field: string, value: unknown): string {
  return JSON.stringify({ ...(JSON.parse(line()) as object), [field]: value });
}

describe('resume hello', () => {
  it('is accepted once, with its ticket, origin and subprotocol', () => {
    const seen = new Map<string, number>();
    const signed = line();
    const [first, again] = [0, 1].map(() => checkHello(KEY, signed, T0 + 500, seen));
    expect(first).toMatchObject({ ok: true, kind: 'resume', hello: { ...REQUEST, node: 'b' } });
    expect(again).toEqual({ ok: false, reason: 'replayed' });
  });

  it('carries a client without an Origin as undefined (signed as null)', () => {
    const check = checkHello(KEY, line({ ...REQUEST, origin: undefined }), T0, new Map());
    expect(check.ok && check.kind === 'resume' && check.hello.origin).toBeUndefined();
    expect(check.ok).toBe(true);
  });

  it('fits the longest Origin admission lets through, with the longest node id and subprotocol', () => {
    const longest: ResumeRequest = {
      ticket: TICKET,
      origin: `https://${'a'.repeat(MAX_ORIGIN_CHARS - 8)}`,
      protocol: 'p'.repeat(64),
    };
    expect(longest.origin).toHaveLength(MAX_ORIGIN_CHARS);
    const signed = signResumeHello(KEY, longest, 'n'.repeat(64), T0);
    expect(Buffer.byteLength(signed)).toBeLessThanOrEqual(MAX_HELLO_BYTES);
    const check = checkHello(KEY, signed.trimEnd(), T0, new Map());
    expect(check).toMatchObject({ ok: true, kind: 'resume', hello: longest });
  });

  it('a dial-in hello is still told apart (no kind)', () => {
    const check = checkHello(KEY, signHello(KEY, 'vm1', 'b', T0).trimEnd(), T0, new Map());
    expect(check).toMatchObject({ ok: true, kind: 'dial-in', hello: { target: 'vm1' } });
  });

  it.each([
    ['another key', line(REQUEST, linkKey(new Uint8Array(32).fill(4))), 'bad mac'],
    ['a stale hello', line(REQUEST, KEY, T0 - 31_000), 'stale'],
    ['another ticket', altered('ticket', 'r1.ZZZZZZZZZZZZZZZZZZZZZZ'), 'bad mac'],
    ['another origin', altered('origin', 'https://evil.example'), 'bad mac'],
    ['no origin instead of one', altered('origin', null), 'bad mac'],
    ['another subprotocol', altered('protocol', 'cardlend.vscard.v1.long-answers'), 'bad mac'],
    ['a ticket of the wrong shape', altered('ticket', 'r1.short'), 'malformed'],
    ['an origin that is not text', altered('origin', 7), 'malformed'],
    [
      'a longer origin',
      altered('origin', `https://${'a'.repeat(MAX_ORIGIN_CHARS - 7)}`),
      'malformed',
    ],
    ['a subprotocol with spaces', altered('protocol', 'a b'), 'malformed'],
    ['a dial-in MAC under the resume kind', altered('kind', undefined), 'malformed'],
  ])('refuses %s', (_what, l, reason) => {
    expect(checkHello(KEY, l, T0, new Map())).toEqual({ ok: false, reason });
  });
});
