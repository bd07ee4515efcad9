/**
 * TLS on the cluster link (config `cluster.linkTls`), resumes across nodes: two relay nodes on
 * a real redis-server, a VSCard stand-in as the VM. A page lends through node A, drops, and
 * resumes with its ticket through node B, which reaches A's link through a loopback proxy that
 * records every byte: with linkTls neither the ticket (nor the next one) nor the guest's
 * VERIFY and the card's answer cross it in clear, without they do. A mixed fleet (either way)
 * or a node with another CA's certificate drops the page without a close frame (1006, as when
 * the holder cannot be reached) at once, both nodes say why, and the session waits on A for
 * the ticket.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../../src/auth/tokens.ts';
import type { LinkTlsConfig } from '../../src/config/types.ts';
import { FakeVmHost, msg } from '../helpers.ts';
import { cutUntilParked, offerAt } from '../resume-helpers.ts';
import {
  ANSWER,
  inClear,
  LINK_SECRET,
  LinkBed,
  linkFiles,
  logOf,
  startLinkNode,
  STRANGER_REFUSED,
  strangerB,
  VERIFY,
} from './link-tls-rig.ts';
import { recorded, resumable, withTicket, withToken } from './resume-pages.ts';

const APDU = 7;

let host: FakeVmHost;
beforeAll(async () => void (host = await FakeVmHost.start()));
const bed = LinkBed.perTest();
afterAll(() => host.close());

/** A's and B's `cluster.linkTls` (undefined: plain). */
type Setup = { a: LinkTlsConfig | undefined; b: LinkTlsConfig | undefined };

/** Nodes A and B (B through a recording proxy); a page lent through A, dropped, parked there. */
async function parkedOnA(setup: Setup) {
  const targets = { default: { host: '127.0.0.1', port: host.port } };
  const config = { resumeGraceMs: 20_000 };
  const a = await startLinkNode(bed.fleet, {
    redisUrl: bed.redisUrl,
    nodeId: 'a',
    targets,
    linkTls: setup.a,
    config,
  });
  const proxy = await bed.proxyTo(a);
  const b = await bed.nodeThrough(proxy, { nodeId: 'b', targets, linkTls: setup.b, config });
  const vmIndex = host.connections.length;
  const token = mintToken({
    secret: LINK_SECRET,
    targetId: 'default',
    ttlSeconds: 60,
    nowMs: Date.now(),
  });
  const first = bed.fleet.browser(a.relay, resumable(withToken(token)));
  const offer = await offerAt(first, 0);
  const vm = await host.nextConnection(vmIndex);
  await recorded(a.relay, offer.ticket);
  await cutUntilParked(a.relay, first);
  return { a, b, proxy, vm, ticket: offer.ticket };
}

type Parked = Awaited<ReturnType<typeof parkedOnA>>;

/** The page resumes through B; the guest's VERIFY reaches it and its answer the VM. */
async function resumeThroughB(x: Parked): Promise<string> {
  const page = bed.fleet.browser(x.b.relay, resumable(withTicket(x.ticket)));
  const next = await offerAt(page, 0);
  expect(next.ticket).not.toBe(x.ticket);
  x.vm.socket.write(msg(APDU, 0, VERIFY));
  expect((await page.frame(1)).subarray(12).toString('hex')).toBe(VERIFY.toLowerCase());
  page.send(msg(APDU, 0, ANSWER));
  await x.vm.waitFor(() => x.vm.messages.some((m) => m.type === APDU), 5000, 'the answer');
  expect(x.a.relay.sessions.size).toBe(1);
  expect(x.b.relay.sessions.size).toBe(0);
  return next.ticket;
}

/** Which of the session's secrets `bytes` hold in clear (`ticket 0`, `ticket 1`, … too). */
const plaintextIn = (bytes: Buffer, tickets: readonly string[]): string[] =>
  inClear(bytes, Object.fromEntries(tickets.map((t, i) => [`ticket ${i}`, t])));

/** The page presenting its ticket on B is dropped (1006); the session still waits on A. */
async function droppedOnB(x: Parked): Promise<void> {
  const page = bed.fleet.browser(x.b.relay, resumable(withTicket(x.ticket)));
  expect((await page.closed).code).toBe(1006);
  expect(x.a.relay.sessions.get('default')?.isParked).toBe(true);
  // The ticket was not spent: the page resumes through A itself.
  const again = bed.fleet.browser(x.a.relay, resumable(withTicket(x.ticket)));
  expect((await offerAt(again, 0)).ticket).not.toBe(x.ticket);
}

describe('cluster link with TLS: a resume across nodes', () => {
  it('passes the resume and the session on through TLS: no ticket or APDU in clear', async () => {
    const x = await parkedOnA({
      a: linkFiles(bed.pki.nodeA, bed.pki.ca.cert),
      b: linkFiles(bed.pki.nodeB, bed.pki.ca.cert),
    });
    const next = await resumeThroughB(x);
    const wire = x.proxy.bytes;
    expect(wire[0]).toBe(0x16);
    expect(plaintextIn(wire, [x.ticket, next])).toEqual([]);
  });

  it('without linkTls the same resume crosses in clear (the check above finds it)', async () => {
    const x = await parkedOnA({ a: undefined, b: undefined });
    const next = await resumeThroughB(x);
    expect(plaintextIn(x.proxy.bytes, [x.ticket, next])).toEqual([
      'verify',
      'answer',
      'ticket 0',
      'ticket 1',
    ]);
  });

  it('a plain node passing a resume to a TLS node: dropped at once (1006), both say why', async () => {
    const x = await parkedOnA({ a: linkFiles(bed.pki.nodeA, bed.pki.ca.cert), b: undefined });
    await droppedOnB(x);
    expect(logOf(x.a)).toMatch(/it speaks plain TCP/);
    expect(logOf(x.b)).toContain(
      'resume not passed on: node a: the node closed the link before answering (a node with cluster.linkTls closes plain links; so does a node at its cap of links before their hello)',
    );
  });

  it('a TLS node passing a resume to a plain node: dropped at once (1006), both say why', async () => {
    const x = await parkedOnA({ a: undefined, b: linkFiles(bed.pki.nodeB, bed.pki.ca.cert) });
    await droppedOnB(x);
    expect(logOf(x.a)).toMatch(/link refused: a node at 127\.0\.0\.1:\d+: it speaks TLS/);
    expect(logOf(x.b)).toMatch(/resume not passed on: node a: TLS: the node ended the handshake/);
    // The TLS node sent only its ClientHello: no ticket in it.
    expect(plaintextIn(x.proxy.bytes, [x.ticket])).toEqual([]);
  });

  it('a node with another CA’s certificate: dropped (1006), A refuses its handshake', async () => {
    const x = await parkedOnA(strangerB(bed.pki));
    await droppedOnB(x);
    expect(logOf(x.a)).toMatch(STRANGER_REFUSED);
    expect(logOf(x.b)).toMatch(/resume not passed on: node a: TLS: /);
  });
});
