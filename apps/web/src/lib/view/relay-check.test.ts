import { describe, expect, it } from 'vitest';
import { RelayCheck } from './relay-check.svelte.ts';

describe('RelayCheck', () => {
  it('shows "checking", then the answer of the latest probe only', async () => {
    const pending: ((r: 'reachable' | 'unreachable') => void)[] = [];
    const check = new RelayCheck(() => new Promise((resolve) => pending.push(resolve)));
    expect(check.state).toBe('unknown');
    const first = check.check('http://a/');
    expect(check.state).toBe('checking');
    const second = check.check('http://b/');
    pending[1]?.('unreachable');
    expect(await second).toBe('unreachable');
    expect(check.state).toBe('unreachable');
    // The older probe answers late: ignored.
    pending[0]?.('reachable');
    expect(await first).toBe('reachable');
    expect(check.state).toBe('unreachable');
    check.reset();
    expect(check.state).toBe('unknown');
  });
});
