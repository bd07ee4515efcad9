/**
 * The config file's `"operator": { …, "tls": { "cert", "key", "ca" } }` (src/operator/config.ts,
 * checked at load by src/operator/tls.ts): paths relative to the config file, and a precise
 * `RELAY_CONFIG_INVALID` naming the field for each bad shape or PEM file.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseArgs, type RelayConfig } from '../src/config.ts';
import { configErrorMessage } from './config-error.ts';
import { makeCa, type Pem, type TestCa, tempDir, writeRelayFiles } from './vm-certs.ts';

let dir: string;
let files: { certFile: string; keyFile: string; caFile: string };
let ca: TestCa;
let client: Pem;

beforeAll(async () => {
  dir = tempDir('cardlend-operator-config-');
  ca = await makeCa('cardlend test operator CA');
  const [server, c] = await Promise.all([ca.issueServer('relay'), ca.issueClient('helpdesk')]);
  client = c;
  files = writeRelayFiles(dir, server, ca.cert);
});

/** Writes `text` to a file in the temp dir; returns its path. */
function file(name: string, text: string): string {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
}

/** Parses a config file (at `dir/relay.json`) whose `"operator"` is `operator`. */
function run(operator: unknown): RelayConfig {
  const cfgPath = path.join(dir, 'relay.json');
  const parsed = parseArgs(['--config', cfgPath], {
    readFile: (f) => {
      if (f !== cfgPath) throw new Error(`ENOENT: ${f}`);
      return JSON.stringify({ operator });
    },
  });
  if (parsed.kind !== 'run') throw new Error('expected run');
  return parsed.config;
}

function error(operator: unknown): string {
  return configErrorMessage(() => run(operator));
}

function withTls(tls: unknown) {
  return { listen: '127.0.0.1:9443', secretFile: 'operator-secret', tls };
}

function tls(over: Record<string, unknown> = {}) {
  return { cert: files.certFile, key: files.keyFile, ca: files.caFile, ...over };
}

describe('config: operator.tls', () => {
  it('reads the three PEM paths, relative to the config file', () => {
    const c = run(withTls({ cert: 'server.crt', key: 'server.key', ca: 'vm-ca.crt' }));
    expect(c.operator).toEqual({
      listen: { host: '127.0.0.1', port: 9443 },
      secretFile: path.join(dir, 'operator-secret'),
      tls: files,
    });
  });

  it('leaves the operator API plain without "tls"', () => {
    const c = run({ listen: '127.0.0.1:9443', secretFile: 'operator-secret' });
    expect(c.operator).toEqual({
      listen: { host: '127.0.0.1', port: 9443 },
      secretFile: path.join(dir, 'operator-secret'),
    });
  });

  it('checks the shape of "operator.tls"', () => {
    expect(error(withTls('x'))).toMatch(/"operator\.tls" must be an object \{ "cert"/);
    expect(error(withTls(tls({ crt: 'x' })))).toMatch(
      /unknown key "operator\.tls\.crt" \(allowed: cert, key, ca\)/,
    );
    const { ca: _ca, ...noCa } = tls();
    expect(error(withTls(noCa))).toMatch(/"operator\.tls" lacks "ca"/);
    expect(error(withTls(tls({ key: 7 })))).toMatch(/"operator\.tls\.key" must be a PEM file path/);
    expect(error(withTls(tls({ cert: '' })))).toMatch(
      /"operator\.tls\.cert" must be a PEM file path/,
    );
    expect(error({ ...withTls(tls()), tlz: {} })).toMatch(
      /unknown key "operator\.tlz" \(allowed: listen, secretFile, tls\)/,
    );
  });

  it('names what is wrong with each PEM file', () => {
    expect(error(withTls(tls({ cert: path.join(dir, 'missing.crt') })))).toMatch(
      /operator\.tls\.cert: cannot read .*missing\.crt: ENOENT/,
    );
    expect(error(withTls(tls({ cert: file('garbage.crt', 'hello') })))).toMatch(
      /operator\.tls\.cert: .*garbage\.crt holds no PEM certificate/,
    );
    const broken = file(
      'broken.crt',
      '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n',
    );
    expect(error(withTls(tls({ cert: broken })))).toMatch(
      /operator\.tls\.cert: .*broken\.crt: unreadable certificate/,
    );
    expect(error(withTls(tls({ key: path.join(dir, 'missing.key') })))).toMatch(
      /operator\.tls\.key: cannot read .*missing\.key: ENOENT/,
    );
    expect(error(withTls(tls({ key: file('not-a-key.pem', client.cert) })))).toMatch(
      /operator\.tls\.key: .*not-a-key\.pem is not an unencrypted PEM private key/,
    );
    expect(error(withTls(tls({ key: file('other.key', client.key) })))).toMatch(
      /operator\.tls\.key: .*other\.key does not belong to the certificate/,
    );
    expect(error(withTls(tls({ ca: path.join(dir, 'missing-ca.crt') })))).toMatch(
      /operator\.tls\.ca: cannot read .*missing-ca\.crt: ENOENT/,
    );
    expect(error(withTls(tls({ ca: file('leaf-as-ca.crt', client.cert) })))).toMatch(
      /operator\.tls\.ca: .*leaf-as-ca\.crt: certificate #1 \(CN=helpdesk\) is not a CA certificate/,
    );
    expect(error(withTls(tls({ ca: file('empty-ca.crt', '') })))).toMatch(
      /operator\.tls\.ca: .*empty-ca\.crt holds no PEM certificate/,
    );
  });

  it('refuses an expired server certificate', async () => {
    const expired = await ca.issueServer('old relay', { notAfter: new Date(Date.now() - 60_000) });
    const cert = file('expired.crt', expired.cert);
    const key = file('expired.key', expired.key);
    expect(error(withTls(tls({ cert, key })))).toMatch(
      /operator\.tls\.cert: .*expired\.crt expired on /,
    );
  });
});
