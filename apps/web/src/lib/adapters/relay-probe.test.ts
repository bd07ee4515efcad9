import { describe, expect, it, vi } from 'vitest';
import { probeRelay } from './relay-probe.ts';

describe('probeRelay', () => {
  it('counts any answer as reachable and a network error as unreachable', async () => {
    const seen: RequestInit[] = [];
    const ok = (async (_url: string, init: RequestInit) => {
      seen.push(init);
      return new Response(null, { status: 404 });
    }) as unknown as typeof fetch;
    expect(await probeRelay('http://relay/', { fetch: ok })).toBe('reachable');
    expect(seen[0]).toMatchObject({ mode: 'no-cors', credentials: 'omit' });
    const refused = (async () => {
      throw new TypeError('Failed to fetch');
    }) as unknown as typeof fetch;
    expect(await probeRelay('http://relay/', { fetch: refused })).toBe('unreachable');
  });

  it('gives up after the time limit', async () => {
    const hang = ((_url: string, init: RequestInit) =>
      new Promise((_resolve, reject) => {
        init.signal?.addEventListener('abort', () =>
          reject(new DOMException('aborted', 'AbortError')),
        );
      })) as unknown as typeof fetch;
    vi.useFakeTimers();
    try {
      const result = probeRelay('http://relay/', { fetch: hang, timeoutMs: 6000 });
      await vi.advanceTimersByTimeAsync(5999);
      let settled = false;
      void result.then(() => (settled = true));
      await Promise.resolve();
      expect(settled).toBe(false);
      await vi.advanceTimersByTimeAsync(1);
      expect(await result).toBe('unreachable');
    } finally {
      vi.useRealTimers();
    }
  });
});
