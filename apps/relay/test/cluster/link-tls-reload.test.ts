/**
 * SIGHUP (`reloadTls`) and the cluster link's TLS files: the link listener serves a renewed
 * certificate to new links; a node dials with its renewed certificate (a node refused for a
 * stranger's certificate lends once it has a good one); a bad link file keeps every old file,
 * the other listeners' too (all are read before any is used). A node process re-reads them on
 * a real SIGHUP and logs it.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { clientInit, encodeMessage, RelayClose } from '@cardlend/vscard';
import { describe, expect, it } from 'vitest';
import { tlsReloadLogLine } from '../../src/ops/event-log.ts';
import { until } from '../helpers.ts';
import { makeCa, type Pem, tempDir, writeRelayFiles } from '../vm-certs.ts';
import { LINK_SECRET, LinkBed, linkFiles, pageWithToken, startLinkNode } from './link-tls-rig.ts';
import { RelayNode, writeSecret } from './relay-node.ts';

const bed = LinkBed.perTest();

/** The fingerprint of the certificate a TLS listener on `port` presents to `client`. */
function served(port: number, client: Pem): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: '127.0.0.1',
      port,
      ca: bed.pki.ca.cert,
      cert: client.cert,
      key: client.key,
      checkServerIdentity: () => undefined,
    });
    socket.once('secureConnect', () => {
      resolve(socket.getPeerCertificate().fingerprint256);
      socket.destroy();
    });
    socket.once('error', reject);
  });
}

describe('cluster link TLS files on SIGHUP', () => {
  it('the link serves a renewed certificate; a bad file keeps all the old ones', async () => {
    const link = linkFiles(bed.pki.nodeA, bed.pki.ca.cert);
    const operatorCert = await bed.pki.ca.issueServer('operator API');
    const operatorTls = writeRelayFiles(tempDir(), operatorCert, bed.pki.ca.cert);
    const secretFile = path.join(tempDir(), 'operator-secret');
    writeFileSync(secretFile, 'operator-secret-0123456789');
    const a = await startLinkNode(bed.fleet, {
      redisUrl: bed.redisUrl,
      nodeId: 'a',
      targets: { vm: { host: '127.0.0.1', port: 0, isDialIn: true } },
      linkTls: link,
      config: {
        operator: { listen: { host: '127.0.0.1', port: 0 }, secretFile, tls: operatorTls },
      },
    });
    const operatorPort = a.relay.operatorPort as number;
    expect(await served(a.linkPort, bed.pki.nodeB)).toBe(bed.pki.nodeA.sha256);

    const renewed = await bed.pki.ca.issueNode('relay-a renewed');
    writeFileSync(link.certFile, renewed.cert);
    writeFileSync(link.keyFile, renewed.key);
    a.relay.reloadTls();
    expect(await served(a.linkPort, bed.pki.nodeB)).toBe(renewed.sha256);

    // A renewed operator certificate, and a link key that no longer matches its certificate.
    const operatorRenewed = await bed.pki.ca.issueServer('operator API renewed');
    writeFileSync(operatorTls.certFile, operatorRenewed.cert);
    writeFileSync(operatorTls.keyFile, operatorRenewed.key);
    writeFileSync(link.keyFile, bed.pki.nodeA.key);
    expect(() => a.relay.reloadTls()).toThrow(
      /^cluster\.linkTls\.key \(--link-tls-key\): .* does not belong to the certificate/,
    );
    expect(await served(a.linkPort, bed.pki.nodeB)).toBe(renewed.sha256);
    expect(await served(operatorPort, bed.pki.nodeB)).toBe(operatorCert.sha256);
  });

  it('a node dials with its renewed files: refused with a stranger’s certificate, lends after', async () => {
    const b = linkFiles(bed.pki.rogueNode, bed.pki.ca.cert);
    const x = await bed.crossNodes({ a: linkFiles(bed.pki.nodeA, bed.pki.ca.cert), b });
    const refused = pageWithToken(bed.fleet, x.b.relay, x.target);
    expect((await refused.closed).code).toBe(RelayClose.VM_UNREACHABLE);

    writeFileSync(b.certFile, bed.pki.nodeB.cert);
    writeFileSync(b.keyFile, bed.pki.nodeB.key);
    x.b.relay.reloadTls();
    const page = pageWithToken(bed.fleet, x.b.relay, x.target);
    await page.opened;
    page.send(encodeMessage(clientInit()));
    expect((await page.frame(0)).readUInt32BE(0)).toBe(1); // the VM's Init, through the link
  });

  it('a node trusting a new cluster CA after SIGHUP refuses nodes of the old one', async () => {
    const a = linkFiles(bed.pki.nodeA, bed.pki.ca.cert);
    const x = await bed.crossNodes({ a, b: linkFiles(bed.pki.nodeB, bed.pki.ca.cert) });
    const newCa = await makeCa('new cluster CA');
    writeFileSync(a.caFile, newCa.cert);
    x.a.relay.reloadTls();
    const page = pageWithToken(bed.fleet, x.b.relay, x.target);
    expect((await page.closed).code).toBe(RelayClose.VM_UNREACHABLE);
  });
});

describe('SIGHUP on a node process', () => {
  it('re-reads the link files and logs it; a bad one is logged naming its setting', async () => {
    const files = linkFiles(bed.pki.nodeA, bed.pki.ca.cert);
    const node = await RelayNode.start({
      nodeId: 'hup',
      redisUrl: bed.redisUrl,
      targets: { vm: '127.0.0.1:9' },
      secretFile: writeSecret(LINK_SECRET),
      leaseMs: 1500,
      linkTls: files,
    });
    try {
      node.proc.kill('SIGHUP');
      await until(() => node.stdout.includes('TLS reloaded (cluster link)'), 10_000, 'reload');
      writeFileSync(files.keyFile, bed.pki.nodeB.key);
      node.proc.kill('SIGHUP');
      const failed = /"event":"tls-reload"[^\n]*cluster\.linkTls\.key \(--link-tls-key\): /;
      await until(() => failed.test(node.stdout), 10_000, 'the failed reload');
    } finally {
      await node.stop();
    }
  }, 40_000);
});

describe('the SIGHUP log line', () => {
  it('names the cluster link among the reloaded', () => {
    const files = { certFile: '/c', keyFile: '/k', caFile: '/a' };
    const cluster = { redisUrl: 'redis://h:1', nodeId: 'a', advertise: 'h:2', linkTls: files };
    expect(tlsReloadLogLine({ tls: undefined, vmTls: undefined, cluster }).message).toBe(
      'TLS reloaded (cluster link)',
    );
    const { linkTls: _plain, ...plain } = cluster;
    expect(tlsReloadLogLine({ tls: undefined, vmTls: undefined, cluster: plain }).message).toBe(
      'no TLS configured',
    );
  });
});
