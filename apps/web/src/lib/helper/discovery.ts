/**
 * Finding a running helper: the WebSocket address (the documented default, or `?helper=` for
 * a helper on another loopback port), the browser's Local Network Access permission, and one
 * connection attempt, summed up as what the page should say.
 */
import { HELPER_DEFAULT_PORT, HELPER_PATH, type HelperErrorCode } from '@cardlend/helper-protocol';
import { HelperClient, HelperConnectError } from './helper-client.ts';
import type { CreateHelperSocket } from './helper-client.ts';

/** The default helper address. */
export const DEFAULT_HELPER_URL = `ws://127.0.0.1:${HELPER_DEFAULT_PORT}${HELPER_PATH}`;

/** `?helper=ws://127.0.0.1:PORT/cardlend-helper` (loopback only), else the default. */
export function helperUrlFrom(pageUrl: string): string {
  let asked: string | null;
  try {
    asked = new URL(pageUrl).searchParams.get('helper');
  } catch {
    return DEFAULT_HELPER_URL;
  }
  if (asked === null) return DEFAULT_HELPER_URL;
  const m = /^ws:\/\/(127\.0\.0\.1|\[::1\]|localhost):([0-9]{1,5})\/cardlend-helper$/.exec(asked);
  return m === null ? DEFAULT_HELPER_URL : asked;
}

/** The Local Network Access permission as the browser reports it. */
export type LnaPermission = 'granted' | 'denied' | 'prompt' | 'unknown';

/** Asks the browser for the `loopback-network` permission's state (never throws). */
export async function loopbackPermission(
  permissions: { query(d: { name: string }): Promise<{ state: string }> } | undefined,
): Promise<LnaPermission> {
  if (permissions === undefined) return 'unknown';
  for (const name of ['loopback-network', 'local-network-access']) {
    try {
      const s = (await permissions.query({ name })).state;
      if (s === 'granted' || s === 'denied' || s === 'prompt') return s;
    } catch {
      // not known to this browser
    }
  }
  return 'unknown';
}

/** What looking for the helper found. */
export type Discovery =
  | { readonly kind: 'found'; readonly client: HelperClient }
  /** Nothing answered and the browser did not block it: no helper running (or not yet). */
  | { readonly kind: 'absent'; readonly permission: LnaPermission }
  /** The browser refuses this page the loopback network (Local Network Access denied). */
  | { readonly kind: 'blocked' }
  /** A helper answered and refused the connection. */
  | { readonly kind: 'refused'; readonly code: HelperErrorCode };

/** Looks for the helper once. */
export async function discoverHelper(opts: {
  url: string;
  createSocket: CreateHelperSocket;
  permission: () => Promise<LnaPermission>;
}): Promise<Discovery> {
  try {
    return { kind: 'found', client: await HelperClient.connect(opts) };
  } catch (e) {
    if (e instanceof HelperConnectError && e.helperCode !== null)
      return { kind: 'refused', code: e.helperCode };
    const permission = await opts.permission();
    return permission === 'denied' ? { kind: 'blocked' } : { kind: 'absent', permission };
  }
}
