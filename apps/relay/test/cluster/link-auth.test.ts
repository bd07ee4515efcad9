/** The internal link's hello: signed, fresh, used once; anything else is refused with a reason. */
import { describe, expect, it } from 'vitest';
import { checkHello, linkKey, signHello } from '../../src/cluster/link-auth.ts';

const KEY = linkKey(new Uint8Array(32).fill(3));
const T0 = 1_800_000_000_000;

function line(key = KEY, target = 'vm1', node = 'b', ts = T0): string {
  return signHello(key, target, node, ts).trimEnd();
}

describe('link hello', () => {
  it('accepts a fresh signed hello once', () => {
    const seen = new Map<string, number>();
    const l = line();
    expect(checkHello(KEY, l, T0 + 1000, seen)).toMatchObject({
      ok: true,
      hello: { target: 'vm1', node: 'b', ts: T0 },
    });
    expect(checkHello(KEY, l, T0 + 1000, seen)).toEqual({ ok: false, reason: 'replayed' });
  });

  it.each([
    ['another key', line(linkKey(new Uint8Array(32).fill(4))), 'bad mac'],
    ['a stale hello', line(KEY, 'vm1', 'b', T0 - 31_000), 'stale'],
    ['not JSON', 'hello', 'malformed'],
    ['a bad target id', line(KEY, 'vm 1'), 'malformed'],
    ['a changed target', line().replace('"vm1"', '"vm2"'), 'bad mac'],
  ])('refuses %s', (_what, l, reason) => {
    expect(checkHello(KEY, l, T0, new Map())).toEqual({ ok: false, reason });
  });
});
