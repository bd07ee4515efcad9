/**
 * TLS dial-in for a VM fleet (`"vmTls": { …, "targetFromCn": true }`): any VM whose certificate
 * the VM CA signed is a target named by its certificate's CN, with no line per VM; a token for
 * that id lends to it. A CN that a configured target uses, or a certificate of another CA, is
 * not accepted that way.
 */
import tls from 'node:tls';
import { RELAY_SUBPROTOCOL, RELAY_TOKEN_SUBPROTOCOL_PREFIX } from '@cardlend/vscard';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../../src/auth/tokens.ts';
import { parseArgs } from '../../src/config.ts';
import type { RelayServer, ServerEvent } from '../../src/server.ts';
import { Browser, msg, startTestRelay, until, wsUrl } from '../helpers.ts';
import { makeCa, tempDir, writeRelayFiles, type Pem, type TestCa } from '../vm-certs.ts';

const SECRET = new Uint8Array(32).fill(8);

let ca: TestCa;
let files: { certFile: string; keyFile: string; caFile: string };
let fleetVm: Pem;
let namedVm: Pem;
let rogueVm: Pem;

beforeAll(async () => {
  ca = await makeCa();
  const rogue = await makeCa('rogue CA');
  const [server, a, b, r] = await Promise.all([
    ca.issueServer('relay'),
    ca.issueClient('lab-77'),
    ca.issueClient('default'),
    rogue.issueClient('lab-78'),
  ]);
  files = writeRelayFiles(tempDir(), server, ca.cert);
  [fleetVm, namedVm, rogueVm] = [a, b, r];
});

let relay: RelayServer | undefined;
const sockets: tls.TLSSocket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await relay?.close();
});

/** A VM stand-in on TLS: acks the relay's messages like QEMU (Error 0), records what it got. */
function vm(r: RelayServer, cert: Pem): { received: number[]; closed: Promise<void> } {
  const socket = tls.connect({
    host: '127.0.0.1',
    port: r.vmTlsAddress?.port as number,
    ca: ca.cert,
    cert: cert.cert,
    key: cert.key,
  });
  sockets.push(socket);
  socket.on('error', () => {});
  const received: number[] = [];
  let buf = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    while (buf.length >= 12 && buf.length >= 12 + buf.readUInt32BE(8)) {
      const type = buf.readUInt32BE(0);
      buf = buf.subarray(12 + buf.readUInt32BE(8));
      received.push(type);
      if (type !== 2) socket.write(msg(2, 0, '00000000'));
    }
  });
  return { received, closed: new Promise((resolve) => socket.once('close', () => resolve())) };
}

describe('TLS dial-in fleet: target from the certificate CN', () => {
  it('the config file key', () => {
    const io = {
      readFile: () =>
        JSON.stringify({
          vmTls: { listen: '127.0.0.1:0', cert: 'c', key: 'k', ca: 'a', targetFromCn: true },
        }),
      readBytes: () => new Uint8Array(),
    };
    expect(() => parseArgs(['--config', '/x.json'], io)).not.toThrow(/targetFromCn/);
    const bad = { ...io, readFile: () => JSON.stringify({ vmTls: { targetFromCn: 1 } }) };
    expect(() => parseArgs(['--config', '/x.json'], bad)).toThrow(
      /targetFromCn" must be true or false/,
    );
  });

  it('a VM whose certificate the CA signed is lent by its CN; others are refused', async () => {
    let events: ServerEvent[];
    ({ relay, events } = await startTestRelay(1, {
      tokenSecrets: [SECRET],
      vmTls: { listen: { host: '127.0.0.1', port: 0 }, ...files, isTargetFromCn: true },
    }));
    const r = relay;
    const fleet = vm(r, fleetVm);
    // Parked: the relay's arrival cleanup (CardRemove, ReaderRemove) reached it.
    await until(() => fleet.received.length >= 2, 5000);
    const token = mintToken({
      secret: SECRET,
      targetId: 'lab-77',
      ttlSeconds: 60,
      nowMs: Date.now(),
    });
    const b = new Browser(wsUrl(r), [RELAY_SUBPROTOCOL, RELAY_TOKEN_SUBPROTOCOL_PREFIX + token]);
    await b.opened;
    b.send(msg(3, 0)); // ReaderAdd
    await until(() => fleet.received.includes(3), 5000);
    expect(r.sessions.has('lab-77')).toBe(true);
    // "default" is a configured (TCP) target: its CN does not make a TLS target.
    await vm(r, namedVm).closed;
    // Another CA's certificate ends at the handshake.
    await vm(r, rogueVm).closed;
    const refusals = events.flatMap((e) =>
      e.kind === 'dial-in' && e.event.kind === 'vm-refused' ? [e.event.reason] : [],
    );
    expect(refusals.some((r) => /no target names this certificate .*cn:default/.test(r))).toBe(
      true,
    );
    expect(refusals.some((r) => /TLS handshake failed/.test(r))).toBe(true);
    b.ws.terminate();
  });
});
