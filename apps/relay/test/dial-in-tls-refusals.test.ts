/**
 * A VM's failed TLS handshake on the shared dial-in listener (src/dial-in-tls.ts) is reported
 * with the peer's address, even when Node dropped it first (a client certificate that does not
 * verify), and a reason in words with the OpenSSL/Node code kept (src/vm-tls-refusal.ts). Node
 * TLS and TCP clients on loopback play the VMs.
 */
import net from 'node:net';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DialInTlsListener, vmTlsMaxConnections, type DialInTlsEvent } from '../src/dial-in-tls.ts';
import { createRelayMetrics } from '../src/ops/metrics.ts';
import { vmHandshakeFailure } from '../src/vm-tls-refusal.ts';
import { silentPeer, startTestRelay, until } from './helpers.ts';
import { makeCa, type Pem, type TestCa, tempDir, writeRelayFiles } from './vm-certs.ts';

const events: DialInTlsEvent[] = [];

/** The VM CA, the certificate that names the target, three it refuses, and the listener. */
let pki: {
  ca: TestCa;
  server: Pem;
  vm: Pem;
  rogue: Pem;
  expired: Pem;
  /** Signed by the VM CA, named by no target. */
  unknown: Pem;
  listener: DialInTlsListener;
};

beforeAll(async () => {
  const ca = await makeCa('cardlend test CA');
  const rogueCa = await makeCa('someone else');
  const server = await ca.issueServer('relay');
  const [vm, rogue, expired, unknown] = await Promise.all([
    ca.issueClient('vm-a'),
    rogueCa.issueClient('vm-a'),
    ca.issueClient('vm-a', { notAfter: new Date(Date.now() - 60_000) }),
    ca.issueClient('vm-z'),
  ]);
  const listener = new DialInTlsListener({
    config: {
      listen: { host: '127.0.0.1', port: 0 },
      ...writeRelayFiles(tempDir(), server, ca.cert),
    },
    targets: [['vm-a', { kind: 'sha256', value: vm.sha256 }]],
    onEvent: (e) => events.push(e),
  });
  await listener.start();
  pki = { ca, server, vm, rogue, expired, unknown, listener };
});

afterAll(() => pki.listener.close());

/** Connects with `open`, waits for the close and the refusal: the client's port and the event. */
async function refusal(
  open: (port: number) => net.Socket,
  port = pki.listener.address.port,
  seenEvents: () => readonly DialInTlsEvent[] = () => events,
): Promise<[string, DialInTlsEvent]> {
  const seen = seenEvents().length;
  const socket = open(port);
  socket.on('error', () => {});
  socket.on('data', () => {}); // TLS 1.3: a client learns of the refusal on its first read
  let local = '';
  socket.once('connect', () => (local = `127.0.0.1:${socket.localPort}`));
  await new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await until(() => seenEvents().length > seen, 3000, 'the refusal');
  return [local, seenEvents()[seen] as DialInTlsEvent];
}

const tlsVm =
  (client: Pem | undefined, more: tls.ConnectionOptions = {}) =>
  (port: number) =>
    tls.connect({
      host: '127.0.0.1',
      port,
      ca: pki.ca.cert,
      ...(client ? { cert: client.cert, key: client.key } : {}),
      ...more,
    });

const plainVm = (bytes: Buffer) => (port: number) => {
  const s = net.connect({ host: '127.0.0.1', port });
  s.once('connect', () => s.write(bytes));
  return s;
};

describe('a refused VM handshake names the peer and says why', () => {
  it.each([
    [
      'no client certificate',
      () => tlsVm(undefined),
      'the VM sent no client certificate; QEMU sends one only when the VM CA (--vm-tls-ca) issued it (ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE)',
    ],
    [
      'a certificate from another CA',
      () => tlsVm(pki.rogue),
      "the VM's client certificate is not signed by the VM CA (--vm-tls-ca) (UNABLE_TO_VERIFY_LEAF_SIGNATURE)",
    ],
    [
      'an expired certificate',
      () => tlsVm(pki.expired),
      "the VM's client certificate has expired (CERT_HAS_EXPIRED)",
    ],
    [
      'plain VSCard bytes (a chardev without tls-creds=)',
      () => plainVm(Buffer.from('000000010000000000000004000000020000000000000001', 'hex')),
      'the VM does not speak TLS (a chardev without tls-creds=, or not QEMU at all) (ERR_SSL_WRONG_VERSION_NUMBER)',
    ],
    [
      'TLS 1.1 only',
      () => tlsVm(pki.vm, { minVersion: 'TLSv1', maxVersion: 'TLSv1.1' }),
      'the VM offers no TLS version the relay accepts (TLS 1.2 or later) (ERR_SSL_UNSUPPORTED_PROTOCOL)',
    ],
  ])('%s', async (_name, client, why) => {
    const [local, event] = await refusal(client());
    expect(local).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(event).toEqual({
      kind: 'vm-refused',
      remote: local,
      reason: `TLS handshake failed: ${why}`,
      refusal: 'tls-handshake',
    });
  });

  it('a VM that drops the connection in the handshake (it refused the relay) is named too', async () => {
    const otherCa = await makeCa('not the relay CA');
    const [local, event] = await refusal(tlsVm(pki.vm, { ca: otherCa.cert }));
    expect(event).toEqual({
      kind: 'vm-refused',
      remote: local,
      reason:
        "TLS handshake failed: the VM closed the connection in the handshake; did it refuse the relay's certificate? (ECONNRESET)",
      refusal: 'tls-handshake',
    });
  });
});

describe('the VM TLS listener refusals in the metrics', () => {
  it('counts each refusal by reason in cardlend_relay_vm_tls_refusals_total', async () => {
    const { relay, events: seen } = await startTestRelay(
      0,
      {
        targets: {
          'vm-a': {
            host: '',
            port: 0,
            isDialIn: true,
            vmCert: { kind: 'sha256', value: pki.vm.sha256 },
          },
        },
        defaultTarget: 'vm-a',
        vmTls: {
          listen: { host: '127.0.0.1', port: 0 },
          ...writeRelayFiles(tempDir(), pki.server, pki.ca.cert),
        },
      },
      { metrics: createRelayMetrics({ hasProcessMetrics: false }) },
    );
    try {
      const port = relay.vmTlsAddress?.port as number;
      const refused = () =>
        seen.flatMap((e) => (e.kind === 'dial-in' && e.target === undefined ? [e.event] : []));
      const kinds = [];
      for (const client of [tlsVm(undefined), tlsVm(pki.rogue), tlsVm(pki.unknown)])
        kinds.push((await refusal(client, port, refused as () => DialInTlsEvent[]))[1]);
      expect(kinds.map((e) => e.kind === 'vm-refused' && e.refusal)).toEqual([
        'tls-handshake',
        'tls-handshake',
        'unknown-certificate',
      ]);
      const flood = await Promise.all(
        Array.from({ length: vmTlsMaxConnections(1) }, () => silentPeer(port)),
      );
      await until(() => relay.vmTlsConnections === flood.length, 5000, 'the flood accepted');
      const extra = net.connect({ host: '127.0.0.1', port });
      extra.on('error', () => {});
      await new Promise<void>((resolve) => extra.once('close', () => resolve()));
      await until(() => refused().length === 4, 3000, 'the cap refusal');
      // Scraped while the flood is open: each of its connections counts once it ends.
      const text = await (await fetch(`${relay.url}metrics`)).text();
      for (const s of flood) s.destroy();
      const counts = text
        .split('\n')
        .filter((l) => l.startsWith('cardlend_relay_vm_tls_refusals_total{'));
      expect(counts).toEqual([
        'cardlend_relay_vm_tls_refusals_total{reason="tls-handshake"} 2',
        'cardlend_relay_vm_tls_refusals_total{reason="over-cap"} 1',
        'cardlend_relay_vm_tls_refusals_total{reason="unknown-certificate"} 1',
      ]);
    } finally {
      await relay.close();
    }
  });
});

describe('vmHandshakeFailure', () => {
  it('puts the alerts, timeouts and other certificate errors in words, keeping the code', () => {
    expect(vmHandshakeFailure('ERR_SSL_TLSV1_ALERT_UNKNOWN_CA', undefined)).toBe(
      "the VM refused the relay's certificate or TLS (check its ca-cert.pem and the chardev's host=) (ERR_SSL_TLSV1_ALERT_UNKNOWN_CA)",
    );
    expect(vmHandshakeFailure('ERR_TLS_HANDSHAKE_TIMEOUT', undefined)).toBe(
      'the VM did not finish its handshake in time (ERR_TLS_HANDSHAKE_TIMEOUT)',
    );
    expect(vmHandshakeFailure('ECONNRESET', 'CERT_NOT_YET_VALID')).toBe(
      "the VM's client certificate is not valid yet (CERT_NOT_YET_VALID)",
    );
    expect(vmHandshakeFailure('ECONNRESET', 'INVALID_PURPOSE')).toBe(
      "the VM's certificate is not made for TLS clients (extended key usage) (INVALID_PURPOSE)",
    );
  });

  it('passes an unknown code on as it is', () => {
    expect(vmHandshakeFailure('ERR_SOMETHING_NEW', undefined)).toBe('ERR_SOMETHING_NEW');
  });
});
