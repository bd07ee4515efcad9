/**
 * Is the relay there at all? One `no-cors` GET of the relay's web address before lending to a
 * relay named in the link (issue 14 §2: refuse to lend on an unreachable `relay=`). Any HTTP
 * answer counts as reachable (the response is opaque); a network error or no answer within
 * the time limit as unreachable. The WebSocket itself is still checked by the relay.
 */
export type RelayReachability = 'unknown' | 'checking' | 'reachable' | 'unreachable';

/** How long a probe may take, ms. */
export const PROBE_TIMEOUT_MS = 6_000;

export async function probeRelay(
  httpUrl: string,
  opts: { fetch?: typeof fetch; timeoutMs?: number } = {},
): Promise<'reachable' | 'unreachable'> {
  const doFetch = opts.fetch ?? fetch;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), opts.timeoutMs ?? PROBE_TIMEOUT_MS);
  try {
    await doFetch(httpUrl, {
      mode: 'no-cors',
      cache: 'no-store',
      credentials: 'omit',
      redirect: 'manual',
      referrerPolicy: 'no-referrer',
      signal: controller.signal,
    });
    return 'reachable';
  } catch {
    return 'unreachable';
  } finally {
    clearTimeout(timer);
  }
}
