/**
 * vpcd (the test pcscd's virtual reader driver) writes each command to the card in two send()
 * calls without TCP_NODELAY: the second waits, by Nagle's rule, for the ACK of the first, and
 * the card's kernel delays that ACK (up to 40 ms on Linux). Nearly every exchange then idles
 * ~40 ms, and everything after the wait runs on cold, idle CPUs — a test-reader artefact that
 * no real reader has. Turning on quick ACKs for loopback inside pcscd's private network
 * namespace (the `quickack` route attribute, Linux ≥ 3.11) removes it at its root: the ACK
 * leaves at once and vpcd's second write follows within microseconds.
 */
import { execFileSync } from 'node:child_process';

/** Loopback's routes in the `local` table, as the kernel creates them. */
const LOCAL_ROUTES = ['127.0.0.0/8', '127.0.0.1'];

/** Turns on quick ACKs for loopback in the network namespace of process `pid` (root). */
export function quickAckInNamespace(pid: number): void {
  for (const dst of LOCAL_ROUTES) {
    execFileSync('nsenter', [
      ...['-t', String(pid), '-n', 'ip', 'route', 'replace', 'local', dst, 'dev', 'lo'],
      ...['table', 'local', 'proto', 'kernel', 'scope', 'host', 'src', '127.0.0.1'],
      ...['quickack', '1'],
    ]);
  }
}
