/**
 * Web origins as the helper sees them in a WebSocket handshake's `Origin` header: parsed
 * strictly (scheme, host, port; nothing else), normalised (lowercase, default port dropped),
 * and judged approvable (a secure context: https, or a page served from this computer).
 */

/** A parsed origin. */
export interface WebOrigin {
  readonly scheme: 'http' | 'https';
  readonly host: string;
  readonly port: number | null;
  /** `scheme://host[:port]`, lowercase, without a default port: the key approvals use. */
  readonly text: string;
}

const ORIGIN_RE =
  /^(https?):\/\/([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*|\[[0-9a-f:.]{2,45}\])(?::([0-9]{1,5}))?$/;

/**
 * Parses an `Origin` header value; `null` for anything that is not exactly a web origin
 * (absent, `null`, other schemes, paths, credentials, bad ports, over-long).
 */
export function parseOrigin(header: string | undefined | null): WebOrigin | null {
  if (header === undefined || header === null || header.length > 300) return null;
  const m = ORIGIN_RE.exec(header.toLowerCase());
  if (m === null) return null;
  const scheme = m[1] as 'http' | 'https';
  const host = m[2] ?? '';
  let port: number | null = m[3] === undefined ? null : Number(m[3]);
  if (port !== null && (port < 1 || port > 65535)) return null;
  if ((scheme === 'http' && port === 80) || (scheme === 'https' && port === 443)) port = null;
  const text = `${scheme}://${host}${port === null ? '' : `:${port}`}`;
  return { scheme, host, port, text };
}

const LOOPBACK_HOSTS: ReadonlySet<string> = new Set(['localhost', '127.0.0.1', '[::1]']);

/** Whether a page of `origin` may be approved: https, or http from this computer itself. */
export function isApprovableOrigin(origin: WebOrigin): boolean {
  return origin.scheme === 'https' || LOOPBACK_HOSTS.has(origin.host);
}
