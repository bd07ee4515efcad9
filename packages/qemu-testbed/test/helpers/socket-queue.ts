/**
 * How many bytes a client wrote that QEMU has not read yet: the receive queue of QEMU's end of
 * the TCP connection, from /proc/net/tcp (Linux; both ends are on 127.0.0.1 in this network
 * namespace). A positive way to tell "QEMU read everything" (0) or "QEMU stopped reading with
 * N bytes left" (N, stable) without waiting for silence.
 */
import { readFileSync } from 'node:fs';
import type { RawVscardClient } from '../../src/index.ts';

const hex4 = (port: number): string => port.toString(16).toUpperCase().padStart(4, '0');

/** QEMU's unread bytes on `client`'s connection, or undefined if the connection is not listed. */
export function qemuUnreadBytes(qemuPort: number, client: RawVscardClient): number | undefined {
  const clientPort = client.socket.localPort;
  if (clientPort === undefined) return undefined;
  const local = `:${hex4(qemuPort)}`;
  const remote = `:${hex4(clientPort)}`;
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    // sl local_address rem_address st tx_queue:rx_queue ...
    if (f[1]?.endsWith(local) && f[2]?.endsWith(remote) && f[3] === '01') {
      return parseInt(f[4]?.split(':')[1] ?? '', 16);
    }
  }
  return undefined;
}

/**
 * Resolves once QEMU's unread bytes on this connection equal `expected` and the client has
 * nothing left to send (Node's queue is empty); rejects after `timeoutMs` with the last value.
 */
export async function waitForUnread(
  qemuPort: number,
  client: RawVscardClient,
  expected: number,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: number | undefined;
  for (;;) {
    last = qemuUnreadBytes(qemuPort, client);
    if (last === expected && client.socket.writableLength === 0) return;
    if (Date.now() > deadline) {
      throw new Error(`QEMU left ${String(last)} bytes unread, expected ${expected}`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}
