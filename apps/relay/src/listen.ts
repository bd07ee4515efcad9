/** Binding a server to its address, for the listeners the relay owns next to its main one. */
import type net from 'node:net';
import type { HostPort } from './config/types.ts';

/** Binds `server` (net, tls or http) to `at`; rejects with the bind error (port in use, no permission). */
export function listenOn(server: net.Server, at: HostPort): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: at.host, port: at.port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
