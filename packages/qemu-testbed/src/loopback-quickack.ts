/**
 * Quick ACKs on loopback, for benchmarks in a private network namespace. A sender that writes
 * one message in two send() calls without TCP_NODELAY (QEMU's chardev without `nodelay=on`,
 * vpcd, the test pcscd's virtual reader driver) has its second write held by Nagle's rule until
 * the first is ACKed, and the receiving kernel delays that ACK (up to 40 ms on Linux). The
 * `quickack` route attribute (Linux ≥ 3.11) makes the ACK leave at once.
 */
import { execFileSync } from 'node:child_process';

/** Loopback's routes in the `local` table, as the kernel creates them. */
const LOCAL_ROUTES = ['127.0.0.0/8', '127.0.0.1'];

/**
 * Turns quick ACKs on loopback on or off (the routes as the kernel made them), in this
 * process's network namespace or, with `netnsPid`, in that process's (through `nsenter`).
 * Needs root; meant for a namespace of the benchmark's own, never the host's.
 */
export function setLoopbackQuickAck(isOn: boolean, netnsPid?: number): void {
  const enter = netnsPid === undefined ? [] : ['nsenter', '-t', String(netnsPid), '-n'];
  for (const dst of LOCAL_ROUTES) {
    const [command = '', ...args] = [
      ...enter,
      ...['ip', 'route', 'replace', 'local', dst, 'dev', 'lo'],
      ...['table', 'local', 'proto', 'kernel', 'scope', 'host', 'src', '127.0.0.1'],
      ...(isOn ? ['quickack', '1'] : []),
    ];
    execFileSync(command, args);
  }
}
