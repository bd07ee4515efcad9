/**
 * TLS on the cluster link (config `cluster.linkTls`), dial-in across nodes: two relay nodes on
 * a real redis-server, a VM stand-in dialled in to node A, a page on node B. Node B reaches A's
 * link through a loopback proxy that records every byte (what a network between data centres
 * sees): with linkTls the guest's PIN VERIFY and the card's answer cross it encrypted, without
 * they cross it in clear. A node whose certificate another CA signed is refused by either end
 * (the dialling node too, when that node would take it), and so are mixed fleets (one node
 * with linkTls, one without) both ways: the page gets what an unreachable holder gives (4010 VM
 * unreachable) at once, not after the link timeout, and both nodes log why. A peer stalled in
 * its link handshake is ended after 5 s, and a node closing does not wait for it.
 */
import net from 'node:net';
import { clientInit, encodeMessage, RelayClose } from '@cardlend/vscard';
import { describe, expect, it } from 'vitest';
import { LINK_TLS_HANDSHAKE_TIMEOUT_MS } from '../../src/cluster/link-tls.ts';
import { msg } from '../helpers.ts';
import {
  ANSWER,
  type CrossNodes,
  inClear,
  type CrossSetup,
  LinkBed,
  linkFiles,
  logOf,
  pageWithToken,
  startLinkNode,
  STRANGER_REFUSED,
  strangerB,
  VERIFY,
} from './link-tls-rig.ts';

const bed = LinkBed.perTest();
const fleet = bed.fleet;
const crossNodes = (setup: CrossSetup) => bed.crossNodes(setup);

/** A page on B lends the VM on A: Init, the guest's VERIFY, the card's answer. */
async function lendAcross(x: CrossNodes): Promise<void> {
  const page = pageWithToken(fleet, x.b.relay, x.target);
  await page.opened;
  page.send(encodeMessage(clientInit()));
  expect((await page.frame(0)).readUInt32BE(0)).toBe(1); // QEMU's Init, through the link
  x.vm.socket.write(msg(7, 0, VERIFY));
  expect((await page.frame(1)).subarray(12).toString('hex')).toBe(VERIFY.toLowerCase());
  page.send(msg(7, 0, ANSWER));
  await x.vm.waitFor(() => x.vm.messages.some((m) => m.type === 7), 5000, 'the answer');
  expect(x.b.relay.sessions.size).toBe(1);
  expect(x.a.relay.sessions.size).toBe(0);
  expect(logOf(x.a)).toContain(`link: node b lends to ${x.target}`);
}

/** Which of the session's plaintext (APDUs, the hello) `bytes` hold. */
const plaintextIn = (bytes: Buffer): string[] => inClear(bytes, { hello: '"target":"vm-link-' });

/** The page on B is refused as when the holder cannot be reached; returns its close reason. */
async function refusedOnB(x: CrossNodes): Promise<string> {
  const page = pageWithToken(fleet, x.b.relay, x.target);
  const closed = await page.closed;
  expect(closed.code).toBe(RelayClose.VM_UNREACHABLE);
  expect(closed.reason).toMatch(/^The VM is connected to relay node a, which cannot hand it over/);
  expect(closed.reason).not.toMatch(/link timeout/);
  return closed.reason;
}

/** B refused A's certificate: the page's close reason and B's log say so; A lent nothing. */
async function refusedByB(x: CrossNodes): Promise<void> {
  expect(await refusedOnB(x)).toMatch(/TLS: the node's certificate is not one the cluster/);
  expect(logOf(x.b)).toMatch(
    /link to node a .*: TLS: the node's certificate is not one the cluster CA signed \([A-Z_]+\)/,
  );
  expect(logOf(x.a)).not.toMatch(/lends/);
}

describe('cluster link with TLS: dial-in across nodes', () => {
  it('carries a dial-in session through TLS: no APDU or hello in clear on the wire', async () => {
    const x = await crossNodes({
      a: linkFiles(bed.pki.nodeA, bed.pki.ca.cert),
      b: linkFiles(bed.pki.nodeB, bed.pki.ca.cert),
    });
    await lendAcross(x);
    const wire = x.proxy.bytes;
    expect(wire[0]).toBe(0x16); // a TLS handshake record opens the link
    expect(wire.length).toBeGreaterThan(500);
    expect(plaintextIn(wire)).toEqual([]);
  });

  it('without linkTls the same session crosses in clear (the check above finds plaintext)', async () => {
    const x = await crossNodes({ a: undefined, b: undefined });
    await lendAcross(x);
    expect(plaintextIn(x.proxy.bytes)).toEqual(['verify', 'answer', 'hello']);
  });

  it('refuses a node whose certificate another CA signed', async () => {
    const x = await crossNodes(strangerB(bed.pki));
    await refusedOnB(x);
    expect(logOf(x.a)).toMatch(STRANGER_REFUSED);
    expect(logOf(x.b)).toMatch(
      /link to node a .*: TLS: the node closed the link before answering \(did it refuse this node's certificate\?\)/,
    );
    expect(logOf(x.a)).not.toMatch(/lends/);
  });

  it('refuses a node that trusts another CA (it will not take A for a node)', async () => {
    const x = await crossNodes({
      a: linkFiles(bed.pki.nodeA, bed.pki.ca.cert),
      b: linkFiles(bed.pki.rogueNode, bed.pki.rogueCa.cert),
    });
    await refusedByB(x);
  });

  it('will not lend through a node whose certificate another CA signed, even one that trusts it', async () => {
    // A trusts the cluster CA, so it would take B: only B's check of A's chain stops the hello.
    const x = await crossNodes({
      a: linkFiles(bed.pki.rogueNode, bed.pki.ca.cert),
      b: linkFiles(bed.pki.nodeB, bed.pki.ca.cert),
    });
    await refusedByB(x);
    expect(plaintextIn(x.proxy.bytes)).toEqual([]);
  });

  it('a plain node dialling a TLS node: refused at once, both sides say why', async () => {
    const x = await crossNodes({ a: linkFiles(bed.pki.nodeA, bed.pki.ca.cert), b: undefined });
    await refusedOnB(x);
    expect(logOf(x.a)).toMatch(
      /link refused: TLS handshake with 127\.0\.0\.1:\d+ failed: .*it speaks plain TCP \(cluster\.linkTls is set here, not there\)/,
    );
    expect(logOf(x.b)).toMatch(
      /link to node a \(127\.0\.0\.1:\d+\) for vm-link-\d+: the node closed the link before answering \(a node with cluster\.linkTls closes plain links; so does a node at its cap of links before their hello\)/,
    );
    expect(plaintextIn(x.proxy.bytes)).toEqual(['hello']); // the hello went out, nothing more
  });

  it('a TLS node dialling a plain node: refused at once, both sides say why', async () => {
    const x = await crossNodes({ a: undefined, b: linkFiles(bed.pki.nodeB, bed.pki.ca.cert) });
    await refusedOnB(x);
    expect(logOf(x.a)).toMatch(
      /link refused: a node at 127\.0\.0\.1:\d+: it speaks TLS \(cluster\.linkTls is set there, not here\)/,
    );
    expect(logOf(x.b)).toMatch(
      /link to node a .*: TLS: the node ended the handshake \(ECONNRESET; no cluster\.linkTls there, it refused this node's certificate, or it is at its cap of links before their hello\)/,
    );
  });
});

/** Node A with linkTls, and a TCP peer connected to its link that never starts a handshake. */
async function silentPeerOnA() {
  const a = await startLinkNode(fleet, {
    redisUrl: bed.redisUrl,
    nodeId: 'a',
    targets: { vm: { host: '127.0.0.1', port: 0, isDialIn: true } },
    linkTls: linkFiles(bed.pki.nodeA, bed.pki.ca.cert),
  });
  const silent = net.connect({ host: '127.0.0.1', port: a.linkPort });
  silent.on('error', () => {});
  await new Promise<void>((resolve) => silent.once('connect', () => resolve()));
  const closed = new Promise<void>((resolve) => silent.once('close', () => resolve()));
  return { a, closed };
}

describe('the TLS link listener', () => {
  it(`ends a peer stalled in its link handshake after ${LINK_TLS_HANDSHAKE_TIMEOUT_MS} ms, and logs it`, async () => {
    const started = Date.now();
    const { a, closed } = await silentPeerOnA();
    await closed;
    // Node's own default would be 120 s; a loaded machine may add a little.
    expect(Date.now() - started).toBeGreaterThanOrEqual(LINK_TLS_HANDSHAKE_TIMEOUT_MS - 50);
    expect(Date.now() - started).toBeLessThan(LINK_TLS_HANDSHAKE_TIMEOUT_MS * 2);
    expect(logOf(a)).toMatch(
      /link refused: TLS handshake with \S+ failed: ERR_TLS_HANDSHAKE_TIMEOUT/,
    );
  }, 20_000);

  it('closing a node does not wait for a peer stalled in its link handshake', async () => {
    const { a, closed } = await silentPeerOnA();
    fleet.relays.splice(fleet.relays.indexOf(a.relay), 1);
    const started = Date.now();
    await a.relay.close();
    await closed;
    expect(Date.now() - started).toBeLessThan(LINK_TLS_HANDSHAKE_TIMEOUT_MS / 2);
  });
});
