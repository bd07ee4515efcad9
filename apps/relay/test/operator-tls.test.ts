/**
 * The operator API over HTTPS with client certificates (config `"operator.tls"`,
 * src/operator/tls.ts): real sockets on loopback, a real PKI made in the test (vm-certs.ts).
 * The right client certificate and the bearer secret both count; a client without a
 * certificate, or with one from another CA, fails the handshake and is reported; plain HTTP to
 * the TLS listener fails; SIGHUP (reloadTls) serves renewed files and keeps the old on a bad one.
 */
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { OperatorTlsConfig } from '../src/config/types.ts';
import type { RelayServer, ServerEvent } from '../src/server.ts';
import { OPERATOR_TLS_HANDSHAKE_TIMEOUT_MS } from '../src/operator/tls.ts';
import { silentPeer, startTestRelay, until } from './helpers.ts';
import { makeCa, type Pem, type TestCa, tempDir, writeRelayFiles } from './vm-certs.ts';

const OPERATOR_SECRET = 'operator-secret-0123456789';

interface Pki {
  dir: string;
  ca: TestCa;
  server: Pem;
  helpdesk: Pem;
  /** A client certificate from a stranger's CA. */
  stranger: Pem;
  secretFile: string;
}

let pki: Pki;

beforeAll(async () => {
  const dir = tempDir('cardlend-operator-tls-');
  const ca = await makeCa('cardlend test operator CA');
  const rogueCa = await makeCa('someone else');
  const [server, helpdesk, stranger] = await Promise.all([
    ca.issueServer('relay operator API'),
    ca.issueClient('helpdesk backend'),
    rogueCa.issueClient('helpdesk backend'),
  ]);
  const secretFile = path.join(dir, 'operator-secret');
  writeFileSync(secretFile, `${OPERATOR_SECRET}\n`);
  pki = { dir, ca, server, helpdesk, stranger, secretFile };
});

interface Answer {
  status: number;
  json: unknown;
}

/** GET /v1/sessions over HTTPS; rejects when the connection fails (handshake refused). */
function httpsGet(port: number, client: Pem | undefined, secret: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port,
        path: '/v1/sessions',
        ca: pki.ca.cert,
        headers: { Authorization: `Bearer ${secret}` },
        agent: false,
        ...(client ? { cert: client.cert, key: client.key } : {}),
      },
      (res) => collect(res, resolve, reject),
    );
    req.on('error', reject);
    req.end();
  });
}

function collect(
  res: http.IncomingMessage,
  resolve: (a: Answer) => void,
  reject: (e: Error) => void,
): void {
  let text = '';
  res.setEncoding('utf8');
  res.on('data', (c: string) => (text += c));
  res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) as unknown }));
  res.on('error', reject);
}

function refusals(events: ServerEvent[]) {
  return events.flatMap((e) => (e.kind === 'operator-refused' ? [e] : []));
}

describe('operator API with TLS client certificates', () => {
  let relay: RelayServer | undefined;
  afterEach(async () => {
    await relay?.close();
    relay = undefined;
  });

  async function setup(
    tls: OperatorTlsConfig = writeRelayFiles(tempDir(), pki.server, pki.ca.cert),
  ): Promise<{ port: number; events: ServerEvent[]; tls: OperatorTlsConfig }> {
    const started = await startTestRelay(0, {
      operator: { listen: { host: '127.0.0.1', port: 0 }, secretFile: pki.secretFile, tls },
    });
    relay = started.relay;
    return { port: relay.operatorPort as number, events: started.events, tls };
  }

  it('answers a client with the right certificate and the bearer secret', async () => {
    const { port, events } = await setup();
    expect(await httpsGet(port, pki.helpdesk, OPERATOR_SECRET)).toEqual({
      status: 200,
      json: { sessions: [] },
    });
    expect(refusals(events)).toEqual([]);
  });

  it('still requires the bearer secret with the right certificate: 401', async () => {
    const { port } = await setup();
    expect(await httpsGet(port, pki.helpdesk, 'wrong-secret-0123456789')).toEqual({
      status: 401,
      json: { error: 'a bearer secret is required' },
    });
  });

  it('refuses the handshake of a client without a certificate, and reports it', async () => {
    const { port, events } = await setup();
    await expect(httpsGet(port, undefined, OPERATOR_SECRET)).rejects.toThrow(
      /certificate required/,
    );
    await until(() => refusals(events).length === 1, 3000, 'refusal');
    expect(refusals(events)[0]).toEqual({
      kind: 'operator-refused',
      remote: expect.stringMatching(/^127\.0\.0\.1:\d+$/) as unknown,
      reason: 'TLS handshake failed: ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE',
    });
  });

  it('refuses the handshake of a certificate from another CA; no secret in the event', async () => {
    const { port, events } = await setup();
    await expect(httpsGet(port, pki.stranger, OPERATOR_SECRET)).rejects.toThrow();
    await until(() => refusals(events).length === 1, 3000, 'refusal');
    expect(refusals(events)[0]?.reason).toMatch(
      /^TLS handshake failed: client certificate refused \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\)$/,
    );
    expect(JSON.stringify(events)).not.toContain(OPERATOR_SECRET);
  });

  it("names the client's address when Node ended the handshake itself (a stranger's certificate)", async () => {
    const { port, events } = await setup();
    const client = tls.connect({
      host: '127.0.0.1',
      port,
      ca: pki.ca.cert,
      cert: pki.stranger.cert,
      key: pki.stranger.key,
      checkServerIdentity: () => undefined,
    });
    client.on('error', () => {});
    client.on('data', () => {}); // TLS 1.3: the refusal arrives on the first read
    let local = '';
    client.once('connect', () => (local = `127.0.0.1:${client.localPort}`));
    await until(() => refusals(events).length === 1, 3000, 'refusal');
    client.destroy();
    expect(local).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(refusals(events)).toEqual([
      {
        kind: 'operator-refused',
        remote: local,
        reason:
          'TLS handshake failed: client certificate refused (UNABLE_TO_VERIFY_LEAF_SIGNATURE)',
      },
    ]);
  });

  it('refuses the handshake of an expired certificate from the right CA', async () => {
    const { port, events } = await setup();
    const expired = await pki.ca.issueClient('helpdesk backend', {
      notAfter: new Date(Date.now() - 60_000),
    });
    await expect(httpsGet(port, expired, OPERATOR_SECRET)).rejects.toThrow();
    await until(() => refusals(events).length === 1, 3000, 'refusal');
    expect(refusals(events)[0]?.reason).toBe(
      'TLS handshake failed: client certificate refused (CERT_HAS_EXPIRED)',
    );
  });

  it('plain HTTP to the TLS listener fails', async () => {
    const { port, events } = await setup();
    const plain = new Promise<number>((resolve, reject) => {
      const req = http.get(
        {
          host: '127.0.0.1',
          port,
          path: '/v1/sessions',
          agent: false,
          headers: { Authorization: `Bearer ${OPERATOR_SECRET}` },
        },
        (res) => resolve(res.statusCode ?? 0),
      );
      req.on('error', reject);
    });
    await expect(plain).rejects.toThrow();
    await until(() => refusals(events).length === 1, 3000, 'refusal');
    expect(refusals(events)[0]?.reason).toMatch(/^TLS handshake failed: /);
  });

  it('closing the relay does not wait for a peer that never finishes its handshake', async () => {
    const { port } = await setup();
    const silent = await silentPeer(port);
    const started = Date.now();
    await relay?.close();
    relay = undefined;
    expect(Date.now() - started).toBeLessThan(OPERATOR_TLS_HANDSHAKE_TIMEOUT_MS / 2);
    silent.destroy();
  });

  it('reloadTls (SIGHUP) serves the renewed certificate; a bad file keeps the old one', async () => {
    const { port, tls } = await setup();
    const served = (): Promise<string> =>
      new Promise((resolve, reject) => {
        const req = https.get(
          {
            host: '127.0.0.1',
            port,
            path: '/v1/sessions',
            ca: pki.ca.cert,
            cert: pki.helpdesk.cert,
            key: pki.helpdesk.key,
            agent: false,
            headers: { Authorization: `Bearer ${OPERATOR_SECRET}` },
          },
          (res) => {
            const socket = res.socket as tls.TLSSocket;
            resolve(socket.getPeerCertificate().fingerprint256);
            res.resume();
          },
        );
        req.on('error', reject);
      });
    expect(await served()).toBe(pki.server.sha256);
    const renewed = await pki.ca.issueServer('relay operator API renewed');
    writeFileSync(tls.certFile, renewed.cert);
    writeFileSync(tls.keyFile, renewed.key);
    relay?.reloadTls();
    expect(await served()).toBe(renewed.sha256);
    writeFileSync(tls.keyFile, pki.server.key); // no longer matches the certificate
    expect(() => relay?.reloadTls()).toThrow(
      /operator\.tls\.key: .* does not belong to the certificate/,
    );
    expect(await served()).toBe(renewed.sha256);
  });
});

describe('operator API without TLS', () => {
  it('stays plain HTTP with the bearer secret', async () => {
    const { relay } = await startTestRelay(0, {
      operator: { listen: { host: '127.0.0.1', port: 0 }, secretFile: pki.secretFile },
    });
    try {
      const res = await fetch(`http://127.0.0.1:${relay.operatorPort}/v1/sessions`, {
        headers: { Authorization: `Bearer ${OPERATOR_SECRET}` },
      });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ sessions: [] });
    } finally {
      await relay.close();
    }
  });
});
