/**
 * A flood of silent connections to a node's link (its `--advertise` address), with and
 * without `cluster.linkTls`: two relay nodes on a real redis-server, a VM stand-in dialled in
 * to node A, a page on node B. A keeps LINK_MAX_WAITING connections that have not passed
 * their signed hello and closes the next on accept, saying so in its log (once per burst: the
 * later refusals are summed up at the end of a 10 s window, link-cap.test.ts). While the flood
 * holds every place, a page on B is refused at once (4010, not after the link timeout): the
 * cap's trade-off. Once the flood's connections time out (the TLS handshake's 5 s, the
 * hello's 5 s), B lends A's VM again. That links past their hello do not count against the
 * cap is shown on one link listener in link-cap.test.ts.
 */
import net from 'node:net';
import { clientInit, encodeMessage, RelayClose } from '@cardlend/vscard';
import { describe, expect, it } from 'vitest';
import { LINK_MAX_WAITING } from '../../src/cluster/link.ts';
import { until } from '../helpers.ts';
import {
  type CrossNodes,
  LinkBed,
  linkFiles,
  type LinkNode,
  logOf,
  pageWithToken,
} from './link-tls-rig.ts';

const bed = LinkBed.perTest();

/**
 * `count` TCP connections to the node's link that never send a byte, once each is connected.
 * The node accepts connections in the order the kernel completed them, so a connection opened
 * after these reaches the node's cap after all of them.
 */
async function flood(node: LinkNode, count: number): Promise<net.Socket[]> {
  return Promise.all(
    Array.from({ length: count }, async () => {
      const s = net.connect({ host: '127.0.0.1', port: node.linkPort });
      s.on('error', () => {});
      await new Promise<void>((resolve) => s.once('connect', () => resolve()));
      return s;
    }),
  );
}

const closed = (s: net.Socket) => new Promise<void>((resolve) => s.once('close', () => resolve()));

/** A's refusals of connections beyond the cap. */
function capRefusals(node: LinkNode): string[] {
  const refused = new RegExp(
    `^link refused: \\S+: too many connections not yet past their hello \\(at most ${LINK_MAX_WAITING}\\)$`,
  );
  return logOf(node)
    .split('\n')
    .filter((line) => refused.test(line));
}

/** A page on B reaches A's VM through the link: QEMU's Init arrives, A logs the lending. */
async function lendsAcross(x: CrossNodes): Promise<void> {
  const page = pageWithToken(bed.fleet, x.b.relay, x.target);
  await page.opened;
  page.send(encodeMessage(clientInit()));
  expect((await page.frame(0)).readUInt32BE(0)).toBe(1);
  expect(logOf(x.a)).toContain(`link: node b lends to ${x.target}`);
}

describe.each([
  ['with linkTls', true],
  ['without linkTls', false],
])('a flood of silent connections to the link, %s', (_name, withTls) => {
  it(`A holds ${LINK_MAX_WAITING}, closes the next at once; a page on B lends again once they time out`, async () => {
    const files = (node: 'nodeA' | 'nodeB') =>
      withTls ? linkFiles(bed.pki[node], bed.pki.ca.cert) : undefined;
    const x = await bed.crossNodes({ a: files('nodeA'), b: files('nodeB') });
    const silent = await flood(x.a, LINK_MAX_WAITING);
    const started = Date.now();
    const extra = net.connect({ host: '127.0.0.1', port: x.a.linkPort });
    extra.on('error', () => {});
    await closed(extra);
    expect(Date.now() - started).toBeLessThan(2000); // not after the 5 s limits
    await until(() => capRefusals(x.a).length === 1, 3000, "A's log line");
    expect(silent.filter((s) => s.destroyed)).toEqual([]);
    // The flood holds every place: B's link is refused too, at once (B waits 60 s otherwise).
    const page = pageWithToken(bed.fleet, x.b.relay, x.target);
    expect((await page.closed).code).toBe(RelayClose.VM_UNREACHABLE);
    // Within 10 s of the first: counted for the summary line, not logged on its own.
    expect(capRefusals(x.a)).toHaveLength(1);
    const metrics = await x.a.metrics.registry.metrics();
    expect(metrics).toContain('cardlend_relay_cluster_link_refusals_total{reason="over-cap"} 2\n');
    // B cannot tell the cap from a refusal; its log names the cap among the causes.
    expect(logOf(x.b)).toMatch(
      /^link to node a .*: .*(or it is|so does a node) at its cap of links before their hello\)$/m,
    );
    // A ends the flood's connections at the handshake's or the hello's limit.
    await Promise.all(silent.map(closed));
    await lendsAcross(x);
  }, 30_000);
});
