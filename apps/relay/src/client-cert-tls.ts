/**
 * A TLS listener that takes only clients with a certificate its CA signed: the VM dial-in
 * listener (dial-in-tls.ts), the operator API (operator/) and the cluster link
 * (cluster/link-tls.ts). One set of server options, kept when SIGHUP brings new PEM files, and
 * the bookkeeping each needs to close without waiting on a client stalled in its handshake.
 */
import type net from 'node:net';
import type tls from 'node:tls';
import type { TlsMaterial } from './tls-files.ts';

/** Oldest TLS version these listeners (and the cluster link's dialling side) speak. */
export const TLS_MIN_VERSION = 'TLSv1.2';

/**
 * Server options for `material`: a client certificate signed by `material.ca` is required
 * (`requestCert` + `rejectUnauthorized`), so a client without one never reaches a handler.
 */
export function clientCertTlsOptions(
  material: TlsMaterial,
  handshakeTimeoutMs: number,
): tls.TlsOptions {
  return {
    ...material,
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: TLS_MIN_VERSION,
    handshakeTimeout: handshakeTimeoutMs,
  };
}

/**
 * Uses new PEM material for connections accepted from now on; live connections keep theirs.
 * The minimum version goes with it: a new secure context starts from Node's defaults.
 */
export function useClientCertTls(server: tls.Server, material: TlsMaterial): void {
  server.setSecureContext({ ...material, minVersion: TLS_MIN_VERSION });
}

/**
 * Every accepted TCP connection of `server` while it is open (a TLS handshake in progress
 * included), for a close that ends them all.
 */
export function trackConnections(server: net.Server): ReadonlySet<net.Socket> {
  const open = new Set<net.Socket>();
  server.on('connection', (raw: net.Socket) => {
    open.add(raw);
    raw.once('close', () => open.delete(raw));
  });
  return open;
}

/** `address:port` of a peer, `?` for what Node no longer knows. */
export function remoteOf(socket: net.Socket): string {
  return `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
}

/**
 * Remembers the address of every TCP connection `server` accepts, so a failed handshake
 * (`tlsClientError`) can name its peer after Node dropped it: a client certificate that does
 * not verify ends the connection before the listener hears of it, and the TLS socket then
 * reads `?:?`. The returned function finds the TCP socket Node keeps under a TLS socket
 * (`_parent`), falling back to the TLS socket's own address.
 *
 * `_parent` is Node's internal field: no public API leads from a TLS socket to its TCP
 * connection. The server's `'connection'` event gives only the TCP socket (the TLS socket is
 * made by Node's own listener before it); `_handle` is internal too and gone once destroyed;
 * no server event hands over the TLS socket while it still has its address (`secureConnection`
 * never fires for a refused certificate, and `tlsClientError` fires after Node destroyed it);
 * pairing by the order of closes mixes up peers failing at the same time. The public way,
 * `rejectUnauthorized: false` and a refusal of our own in `secureConnection`, would let a
 * client without a certificate finish its handshake (no `certificate required` alert) and
 * rely on every handler checking `authorized`. The loopback tests of each listener assert
 * the real address, so a Node that drops `_parent` shows up there.
 */
export function rememberRemotes(server: net.Server): (socket: tls.TLSSocket) => string {
  const remotes = new WeakMap<object, string>();
  server.on('connection', (raw: net.Socket) => remotes.set(raw, remoteOf(raw)));
  return (socket) => {
    const raw = (socket as { _parent?: unknown })._parent;
    const known = typeof raw === 'object' && raw !== null ? remotes.get(raw) : undefined;
    return known ?? remoteOf(socket);
  };
}
