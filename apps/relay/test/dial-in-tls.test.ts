/**
 * TLS dial-in (issue 6): VMs connect to one shared TLS listener with client certificates that
 * name their targets (src/dial-in-tls.ts). Against real QEMU 7.2 and 10.0
 * (`tls-creds-x509,endpoint=client` + `tls-creds=` on a `reconnect=1` chardev), plus Node TLS
 * clients for what QEMU cannot show quickly (no certificate, a second connection, SIGHUP).
 */
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import {
  clientInit,
  decodeMessage,
  encodeMessage,
  RELAY_SUBPROTOCOL,
  RELAY_TOKEN_SUBPROTOCOL_PREFIX,
  RelayClose,
  type VscardMessage,
} from '@cardlend/vscard';
import { ensureQemu10, type QemuHandle, type QemuVersion, startQemu } from '@cardlend/qemu-testbed';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../src/auth/tokens.ts';
import { VM_TLS_HANDSHAKE_TIMEOUT_MS, vmTlsMaxConnections } from '../src/dial-in-tls.ts';
import type { RelayConfig, TargetConfig } from '../src/config.ts';
import type { RelayServer, ServerEvent } from '../src/server.ts';
import { Browser, silentPeer, startTestRelay, until, wsUrl } from './helpers.ts';
import {
  makeCa,
  type Pem,
  type TestCa,
  tempDir,
  writeQemuClientDir,
  writeRelayFiles,
} from './vm-certs.ts';

const SECRET = Uint8Array.from(Buffer.from('t'.repeat(40)));
const CAC_ATR = Uint8Array.from(Buffer.from('3b7a18000073667465206364313434', 'hex'));

/** The PKI: one CA for the relay and the VMs, and a stranger's CA. */
interface Pki {
  dir: string;
  ca: TestCa;
  rogueCa: TestCa;
  server: Pem;
  vmA: Pem;
  vmB: Pem;
  /** Signed by the right CA, named by no target. */
  unknown: Pem;
  /** CN "vm-b" like vmB, signed by the stranger's CA. */
  rogueB: Pem;
  relayFiles: { certFile: string; keyFile: string; caFile: string };
  qemuDirs: { a: string; b: string; unknown: string; rogueB: string };
}

let pki: Pki;

beforeAll(async () => {
  const dir = tempDir();
  const ca = await makeCa('cardlend test CA');
  const rogueCa = await makeCa('someone else');
  const [server, vmA, vmB, unknown, rogueB] = await Promise.all([
    ca.issueServer('relay'),
    ca.issueClient('vm-a'),
    ca.issueClient('vm-b'),
    ca.issueClient('vm-unknown'),
    rogueCa.issueClient('vm-b'),
  ]);
  pki = {
    dir,
    ca,
    rogueCa,
    server,
    vmA,
    vmB,
    unknown,
    rogueB,
    relayFiles: writeRelayFiles(dir, server, ca.cert),
    qemuDirs: {
      a: writeQemuClientDir(dir, 'a', [ca.cert], vmA),
      b: writeQemuClientDir(dir, 'b', [ca.cert], vmB),
      unknown: writeQemuClientDir(dir, 'unknown', [ca.cert], unknown),
      // QEMU checks its own certificate against ca-cert.pem at start: give it both CAs.
      rogueB: writeQemuClientDir(dir, 'rogue-b', [ca.cert, rogueCa.cert], rogueB),
    },
  };
});

/** Targets `lab-a` (pinned by fingerprint) and `lab-b` (by CN), both on the TLS listener. */
function tlsTargets(): Record<string, TargetConfig> {
  return {
    'lab-a': {
      host: '',
      port: 0,
      isDialIn: true,
      vmCert: { kind: 'sha256', value: pki.vmA.sha256 },
    },
    'lab-b': { host: '', port: 0, isDialIn: true, vmCert: { kind: 'cn', value: 'vm-b' } },
  };
}

function vmTlsConfig(): RelayConfig['vmTls'] {
  return { listen: { host: '127.0.0.1', port: 0 }, ...pki.relayFiles };
}

function tokenBrowser(relay: RelayServer, targetId: string): Browser {
  const token = mintToken({
    secret: SECRET,
    targetId,
    ttlSeconds: 60,
    nowMs: Date.now(),
    isOneTime: true,
  });
  return new Browser(wsUrl(relay), [RELAY_SUBPROTOCOL, RELAY_TOKEN_SUBPROTOCOL_PREFIX + token]);
}

async function request(b: Browser, msg: VscardMessage, index: number): Promise<VscardMessage> {
  b.send(encodeMessage(msg));
  return decodeMessage(Uint8Array.from(await b.frame(index, 5000)));
}

function dialInEvents(events: ServerEvent[], target: string | undefined, kind: string) {
  return events.flatMap((e) =>
    e.kind === 'dial-in' && e.target === target && e.event.kind === kind ? [e.event] : [],
  );
}

/** Opens a Node TLS client to the VM listener; resolves once the relay has ended it. */
function nodeVm(
  relay: RelayServer,
  client: Pem | undefined,
): { socket: tls.TLSSocket; closed: Promise<void> } {
  const socket = tls.connect({
    host: '127.0.0.1',
    port: relay.vmTlsAddress?.port as number,
    ca: pki.ca.cert,
    ...(client ? { cert: client.cert, key: client.key } : {}),
  });
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return { socket, closed };
}

/** Each test boots one or two QEMUs: generous on a loaded 2-core CI machine (waits are polls). */
const QEMU_TEST_MS = 90_000;

describe.each<QemuVersion>(['7.2', '10.0'])('TLS dial-in with real QEMU %s', (version) => {
  const qemus: QemuHandle[] = [];
  const browsers: Browser[] = [];
  let relay: RelayServer | undefined;

  beforeAll(async () => {
    if (version === '10.0') await ensureQemu10();
  }, 300_000);

  afterEach(async () => {
    for (const b of browsers.splice(0)) b.ws.terminate();
    await relay?.close();
    relay = undefined;
    await Promise.all(qemus.splice(0).map((q) => q.stop()));
  });

  async function setup(): Promise<ServerEvent[]> {
    const started = await startTestRelay(0, {
      targets: tlsTargets(),
      defaultTarget: 'lab-a',
      tokenSecrets: [SECRET],
      vmTls: vmTlsConfig(),
      connectTimeoutMs: 3000,
    });
    relay = started.relay;
    expect(relay.dialInPorts.size).toBe(0); // no per-VM ports: both targets share the TLS port
    return started.events;
  }

  async function vm(dir: string, debug?: number, host?: string): Promise<QemuHandle> {
    const q = await startQemu({
      version,
      ...(debug !== undefined ? { debug } : {}),
      dialIn: {
        port: relay?.vmTlsAddress?.port as number,
        tls: { dir },
        ...(host !== undefined ? { host } : {}),
      },
    });
    qemus.push(q);
    return q;
  }

  function browser(targetId: string): Browser {
    const b = tokenBrowser(relay as RelayServer, targetId);
    browsers.push(b);
    return b;
  }

  it(
    'pairs the VM its certificate names with the session its token names; Init, ReaderAdd, ATR, APDU pass',
    async () => {
      const events = await setup();
      const qemu = await vm(pki.qemuDirs.a, 2);
      await until(() => dialInEvents(events, 'lab-a', 'vm-connected').length === 1, 20_000, 'VM A');
      // Parked: the arrival cleanup reached QEMU over TLS.
      await qemu.waitForLog(/VSC_CardRemove/, 3000);
      const b = browser('lab-a');
      await b.opened;
      expect(await request(b, clientInit(), 0)).toMatchObject({ type: 'Init', version: 2 });
      let mark = qemu.output.length;
      expect(await request(b, { type: 'ReaderAdd', readerId: 0, name: '' }, 1)).toMatchObject({
        type: 'Error',
        code: 0,
      });
      await qemu.waitForLog(/CCID Attach/, 10_000, mark); // the reader appears on the guest's USB
      expect(await request(b, { type: 'ATR', readerId: 0, atr: CAC_ATR }, 2)).toMatchObject({
        type: 'Error',
        code: 0,
      });
      // A card answer with no guest command outstanding: it reaches usb-ccid, which says so.
      mark = qemu.output.length;
      b.send(encodeMessage({ type: 'APDU', readerId: 0, apdu: Uint8Array.of(0x90, 0x00) }));
      await qemu.waitForLog(/APDU without pending answers/, 10_000, mark);
      mark = qemu.output.length;
      b.ws.close(1000);
      await qemu.waitForLog(/VSC_CardRemove/, 10_000, mark);
      // QEMU redials (reconnect=1) through TLS and the next session is served.
      await until(
        () => dialInEvents(events, 'lab-a', 'vm-connected').length === 2,
        20_000,
        'redial',
      );
      const next = browser('lab-a');
      await next.opened;
      expect(await request(next, clientInit(), 0)).toMatchObject({ type: 'Init' });
      expect(dialInEvents(events, undefined, 'vm-refused')).toEqual([]);
    },
    QEMU_TEST_MS,
  );

  it(
    'refuses a certificate from another CA and one no target names; the right VM still works',
    async () => {
      const events = await setup();
      const rogue = await vm(pki.qemuDirs.rogueB);
      const unknown = await vm(pki.qemuDirs.unknown);
      const refusals = () => dialInEvents(events, undefined, 'vm-refused') as { reason: string }[];
      await until(
        () =>
          refusals().some((e) => /TLS handshake failed/.test(e.reason)) &&
          refusals().some((e) => e.reason.includes(`sha256:${pki.unknown.sha256}, cn:vm-unknown`)),
        8000,
        'both strangers refused',
      );
      // The rogue certificate carries lab-b's CN, yet it never reached lab-b. (QEMU's GnuTLS does
      // not even send a certificate whose issuer is not among the CAs the relay asks for.)
      expect(dialInEvents(events, 'lab-b', 'vm-connected')).toEqual([]);
      const right = await vm(pki.qemuDirs.b, 2);
      await until(() => dialInEvents(events, 'lab-b', 'vm-connected').length === 1, 20_000, 'VM B');
      const b = browser('lab-b');
      await b.opened;
      expect(await request(b, clientInit(), 0)).toMatchObject({ type: 'Init', version: 2 });
      const mark = right.output.length;
      await request(b, { type: 'ReaderAdd', readerId: 0, name: '' }, 1);
      await right.waitForLog(/CCID Attach/, 10_000, mark);
      expect(await request(b, { type: 'ATR', readerId: 0, atr: CAC_ATR }, 2)).toMatchObject({
        code: 0,
      });
      // The strangers keep redialling and keep being refused; they never get a session.
      const before = refusals().length;
      await until(() => refusals().length >= before + 2, 15_000, 'more refusals');
      expect(rogue.exited || unknown.exited).toBe(false);
      expect(dialInEvents(events, 'lab-a', 'vm-connected')).toEqual([]);
    },
    QEMU_TEST_MS,
  );

  it(
    'QEMU checks the relay certificate against the chardev host (DNS SAN only: host=localhost works, host=127.0.0.1 not)',
    async () => {
      const dnsOnly = await pki.ca.issueServer('relay by name', {
        sans: [{ type: 'dns', value: 'localhost' }],
      });
      const files = writeRelayFiles(tempDir(), dnsOnly, pki.ca.cert);
      const started = await startTestRelay(0, {
        targets: tlsTargets(),
        defaultTarget: 'lab-a',
        tokenSecrets: [SECRET],
        vmTls: { listen: { host: '127.0.0.1', port: 0 }, ...files },
      });
      relay = started.relay;
      const { events } = started;
      const byAddress = await vm(pki.qemuDirs.a, 2);
      // The handshake completes on the relay's side; QEMU then rejects the name and hangs up.
      // The handshake completes on the relay's side; QEMU then rejects the name and hangs up
      // (silently), and redials a second later: nothing ever reaches the card device.
      await until(
        () => dialInEvents(events, 'lab-a', 'vm-disconnected').length >= 2,
        20_000,
        'drops',
      );
      expect(byAddress.output.some((l) => /VSC_|CHR_EVENT_OPENED/.test(l))).toBe(false);
      await byAddress.stop();
      const byName = await vm(pki.qemuDirs.a, 2, 'localhost');
      await byName.waitForLog(/VSC_CardRemove/, 20_000); // the arrival cleanup got through
      const b = browser('lab-a');
      await b.opened;
      expect(await request(b, clientInit(), 0)).toMatchObject({ type: 'Init', version: 2 });
    },
    QEMU_TEST_MS,
  );

  it(
    'two targets over one TLS port pair with the right sessions',
    async () => {
      const events = await setup();
      const qa = await vm(pki.qemuDirs.a, 2);
      const qb = await vm(pki.qemuDirs.b, 2);
      await until(
        () =>
          dialInEvents(events, 'lab-a', 'vm-connected').length === 1 &&
          dialInEvents(events, 'lab-b', 'vm-connected').length === 1,
        8000,
        'both VMs',
      );
      const bb = browser('lab-b');
      const ba = browser('lab-a');
      await Promise.all([ba.opened, bb.opened]);
      for (const b of [ba, bb])
        expect(await request(b, clientInit(), 0)).toMatchObject({ type: 'Init' });
      // A reader is added through lab-b's session: only QEMU B attaches it.
      let markA = qa.output.length;
      let markB = qb.output.length;
      await request(bb, { type: 'ReaderAdd', readerId: 0, name: '' }, 1);
      await qb.waitForLog(/CCID Attach/, 10_000, markB);
      expect(qa.output.slice(markA).some((l) => /CCID Attach/.test(l))).toBe(false);
      // Then through lab-a's: only QEMU A.
      markA = qa.output.length;
      markB = qb.output.length;
      await request(ba, { type: 'ReaderAdd', readerId: 0, name: '' }, 1);
      await qa.waitForLog(/CCID Attach/, 10_000, markA);
      expect(qb.output.slice(markB).some((l) => /CCID Attach/.test(l))).toBe(false);
      for (const b of [ba, bb])
        expect(await request(b, { type: 'ATR', readerId: 0, atr: CAC_ATR }, 2)).toMatchObject({
          code: 0,
        });
      // The session for lab-b ends: only QEMU B gets the card removed.
      markA = qa.output.length;
      markB = qb.output.length;
      bb.ws.close(1000);
      await qb.waitForLog(/VSC_CardRemove/, 10_000, markB);
      expect(qa.output.slice(markA).some((l) => /VSC_CardRemove/.test(l))).toBe(false);
      expect(await request(ba, { type: 'CardRemove', readerId: 0 }, 3)).toMatchObject({ code: 0 });
    },
    QEMU_TEST_MS,
  );
});

describe('TLS dial-in listener with Node TLS clients', () => {
  let relay: RelayServer | undefined;
  afterEach(async () => {
    await relay?.close();
    relay = undefined;
  });

  async function setup(overrides: Partial<RelayConfig> = {}): Promise<ServerEvent[]> {
    const started = await startTestRelay(0, {
      targets: tlsTargets(),
      defaultTarget: 'lab-a',
      tokenSecrets: [SECRET],
      vmTls: vmTlsConfig(),
      ...overrides,
    });
    relay = started.relay;
    return started.events;
  }

  it('refuses a client without a certificate', async () => {
    const events = await setup();
    const { closed } = nodeVm(relay as RelayServer, undefined);
    await closed;
    await until(() => dialInEvents(events, undefined, 'vm-refused').length === 1, 3000, 'refusal');
    expect(dialInEvents(events, undefined, 'vm-refused')[0]).toMatchObject({
      reason: expect.stringMatching(/TLS handshake failed/) as unknown,
    });
  });

  it('refuses a certificate from another CA and an expired one, though their CNs name a target', async () => {
    const events = await setup();
    const expired = await pki.ca.issueClient('vm-b', { notAfter: new Date(Date.now() - 60_000) });
    for (const client of [pki.rogueB, expired]) {
      const { closed, socket } = nodeVm(relay as RelayServer, client);
      socket.on('data', () => {}); // TLS 1.3: the client learns of the refusal on its first read
      await closed;
    }
    await until(() => dialInEvents(events, undefined, 'vm-refused').length === 2, 3000, 'refusals');
    for (const e of dialInEvents(events, undefined, 'vm-refused'))
      expect(e).toMatchObject({ reason: expect.stringMatching(/TLS handshake failed/) as unknown });
    expect(dialInEvents(events, 'lab-b', 'vm-connected')).toEqual([]);
  });

  it('parks a verified VM, answers its guest commands, and refuses a second connection with the same certificate', async () => {
    const events = await setup();
    const first = nodeVm(relay as RelayServer, pki.vmA);
    let received = Buffer.alloc(0);
    first.socket.on('data', (c: Buffer) => (received = Buffer.concat([received, c])));
    // The arrival cleanup: CardRemove + ReaderRemove.
    await until(() => received.length >= 24, 3000, 'arrival cleanup');
    expect([received.readUInt32BE(0), received.readUInt32BE(12)]).toEqual([6, 4]);
    first.socket.write(encodeMessage({ type: 'APDU', readerId: 0, apdu: Uint8Array.of(0, 0xa4) }));
    await until(() => received.length >= 24 + 16, 3000, 'Error answer');
    expect(received.readUInt32BE(24)).toBe(2); // VSC_Error
    const second = nodeVm(relay as RelayServer, pki.vmA);
    await second.closed;
    expect(dialInEvents(events, 'lab-a', 'vm-refused')).toEqual([
      expect.objectContaining({ reason: 'a VM connection is already held' }),
    ]);
    expect(first.socket.destroyed).toBe(false);
    first.socket.destroy();
    await until(() => dialInEvents(events, 'lab-a', 'vm-disconnected').length === 1, 3000, 'gone');
  });

  it('a browser for a TLS target with no VM connected gets VM_UNREACHABLE', async () => {
    await setup({ connectTimeoutMs: 300 });
    const b = tokenBrowser(relay as RelayServer, 'lab-b');
    const closed = await b.closed;
    expect(closed.code).toBe(RelayClose.VM_UNREACHABLE);
    expect(closed.reason).toMatch(/not connected to the relay/);
  });

  it('a flood of connections that never handshake is capped; the right VM still gets through', async () => {
    const events = await setup();
    const port = relay?.vmTlsAddress?.port as number;
    const cap = vmTlsMaxConnections(Object.keys(tlsTargets()).length);
    const silent = await Promise.all(Array.from({ length: cap }, () => silentPeer(port)));
    await until(() => relay?.vmTlsConnections === cap, 5000, 'all accepted');
    const extra = net.connect({ host: '127.0.0.1', port });
    extra.on('error', () => {});
    await new Promise<void>((resolve) => extra.once('close', () => resolve()));
    expect(dialInEvents(events, undefined, 'vm-refused').at(-1)).toMatchObject({
      reason: expect.stringMatching(/too many connections/) as unknown,
    });
    // Once the flood is gone, a VM with the right certificate is served again.
    for (const s of silent) s.destroy();
    await until(() => relay?.vmTlsConnections === 0, 5000, 'flood closed');
    const vmA = nodeVm(relay as RelayServer, pki.vmA);
    await until(() => dialInEvents(events, 'lab-a', 'vm-connected').length === 1, 5000, 'VM A');
    vmA.socket.destroy();
  });

  it('closing the relay does not wait for a peer that never finishes its handshake', async () => {
    await setup();
    const silent = await silentPeer(relay?.vmTlsAddress?.port as number);
    const started = Date.now();
    await relay?.close();
    relay = undefined;
    expect(Date.now() - started).toBeLessThan(VM_TLS_HANDSHAKE_TIMEOUT_MS / 2);
    silent.destroy();
  });

  it('reloadTls (SIGHUP) serves the new certificate; a bad file keeps the old one', async () => {
    const dir = tempDir();
    const files = writeRelayFiles(dir, pki.server, pki.ca.cert);
    await setup({ vmTls: { listen: { host: '127.0.0.1', port: 0 }, ...files } });
    const served = async (): Promise<string> => {
      const { socket } = nodeVm(relay as RelayServer, pki.vmA);
      await new Promise<void>((resolve) => socket.once('secureConnect', () => resolve()));
      const fp = socket.getPeerCertificate().fingerprint256;
      socket.destroy();
      return fp;
    };
    expect(await served()).toBe(pki.server.sha256);
    const renewed = await pki.ca.issueServer('relay renewed');
    writeFileSync(files.certFile, renewed.cert);
    writeFileSync(files.keyFile, renewed.key);
    relay?.reloadTls();
    expect(await served()).toBe(renewed.sha256);
    writeFileSync(files.keyFile, pki.server.key); // no longer matches the certificate
    expect(() => relay?.reloadTls()).toThrow(/does not belong to the certificate/);
    expect(await served()).toBe(renewed.sha256);
  });
});
