/**
 * The settings of TLS on the cluster link: the config file's `"cluster": { …, "linkTls": {
 * "cert", "key", "ca" } }` (paths relative to the file) and the flags `--link-tls-cert`,
 * `--link-tls-key`, `--link-tls-ca` (each over its part of the file's), checked at load
 * (src/cluster/link-tls.ts) with a precise `RELAY_CONFIG_INVALID` naming
 * `cluster.linkTls.<key>`, the file and what is wrong.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseArgs, type RelayConfig } from '../../src/config.ts';
import type { LinkTlsConfig } from '../../src/config/types.ts';
import { RelayError } from '../../src/errors.ts';
import { type Pem, type TestCa, makeCa, tempDir, writeRelayFiles } from '../vm-certs.ts';

const CLUSTER = { redis: 'redis://10.0.0.5:6379', nodeId: 'relay-a', advertise: '10.0.0.11:8443' };
const CLUSTER_FLAGS = ['--cluster', 'redis://h:1', '--node-id', 'a', '--advertise', 'h:2'];

let dir: string;
let ca: TestCa;
let node: Pem;
let files: LinkTlsConfig;

beforeAll(async () => {
  dir = tempDir('cardlend-link-tls-config-');
  ca = await makeCa('cardlend cluster CA');
  node = await ca.issueNode('relay-a');
  files = writeRelayFiles(dir, node, ca.cert);
});

/** Writes `text` to a file in the temp dir; returns its path. */
function file(name: string, text: string): string {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
}

/** Parses `argv` with a config file at `dir/relay.json` whose `"cluster"` is `cluster`. */
function run(cluster: unknown, argv: string[] = []): RelayConfig {
  const cfgPath = path.join(dir, 'relay.json');
  const parsed = parseArgs(['--config', cfgPath, ...argv], {
    cwd: dir,
    readFile: (f) => {
      if (f !== cfgPath) throw new Error(`ENOENT: ${f}`);
      return JSON.stringify(cluster === undefined ? {} : { cluster });
    },
  });
  if (parsed.kind !== 'run') throw new Error('expected run');
  return parsed.config;
}

function error(cluster: unknown, argv: string[] = []): string {
  try {
    run(cluster, argv);
  } catch (e) {
    expect(e).toBeInstanceOf(RelayError);
    expect((e as RelayError).code).toBe('RELAY_CONFIG_INVALID');
    return (e as Error).message;
  }
  throw new Error('expected an error');
}

const withLinkTls = (over: Record<string, unknown> = {}) => ({
  ...CLUSTER,
  linkTls: { cert: files.certFile, key: files.keyFile, ca: files.caFile, ...over },
});

describe('config: cluster.linkTls', () => {
  it('reads the three PEM paths, relative to the config file', () => {
    const c = run({
      ...CLUSTER,
      linkTls: { cert: 'server.crt', key: 'server.key', ca: 'vm-ca.crt' },
    });
    expect(c.cluster).toEqual({
      redisUrl: CLUSTER.redis,
      nodeId: CLUSTER.nodeId,
      advertise: CLUSTER.advertise,
      linkTls: files,
    });
  });

  it('leaves the link plain without it', () => {
    expect(run(CLUSTER).cluster?.linkTls).toBeUndefined();
  });

  it('checks the shape of "cluster.linkTls"', () => {
    expect(error({ ...CLUSTER, linkTls: 'x' })).toMatch(
      /"cluster\.linkTls" must be an object \{ "cert": FILE, "key": FILE, "ca": FILE \}/,
    );
    expect(error(withLinkTls({ crt: 'x' }))).toMatch(
      /unknown key "cluster\.linkTls\.crt" \(allowed: cert, key, ca\)/,
    );
    const { ca: _ca, ...noCa } = withLinkTls().linkTls;
    expect(error({ ...CLUSTER, linkTls: noCa })).toMatch(/"cluster\.linkTls" lacks "ca"/);
    expect(error(withLinkTls({ key: 7 }))).toMatch(
      /"cluster\.linkTls\.key" must be a PEM file path/,
    );
  });

  it('names what is wrong with each PEM file', async () => {
    const other = await ca.issueNode('relay-b');
    const cases: [Record<string, unknown>, RegExp][] = [
      [
        { cert: path.join(dir, 'missing.crt') },
        /^cluster\.linkTls\.cert \(--link-tls-cert\): cannot read .*missing\.crt: ENOENT/,
      ],
      [
        { cert: file('garbage.crt', 'hello') },
        /cluster\.linkTls\.cert .*: .*garbage\.crt holds no PEM certificate/,
      ],
      [
        { key: file('other.key', other.key) },
        /^cluster\.linkTls\.key \(--link-tls-key\): .*other\.key does not belong to the certificate/,
      ],
      [
        { ca: file('leaf-as-ca.crt', other.cert) },
        /^cluster\.linkTls\.ca \(--link-tls-ca\): .*leaf-as-ca\.crt: certificate #1 \(CN=relay-b\) is not a CA certificate/,
      ],
    ];
    for (const [over, message] of cases) expect(error(withLinkTls(over))).toMatch(message);
  });

  it('refuses an expired certificate, and one not good for both ends of the link', async () => {
    const expired = await ca.issueServer('old', { notAfter: new Date(Date.now() - 60_000) });
    const [server, client] = await Promise.all([ca.issueServer('s'), ca.issueClient('c')]);
    const pair = (name: string, pem: Pem) => ({
      cert: file(`${name}.crt`, pem.cert),
      key: file(`${name}.key`, pem.key),
    });
    expect(error(withLinkTls(pair('expired', expired)))).toMatch(
      /^cluster\.linkTls\.cert \(--link-tls-cert\): .*expired\.crt expired on /,
    );
    expect(error(withLinkTls(pair('server-only', server)))).toMatch(
      /^cluster\.linkTls\.cert \(--link-tls-cert\): .*server-only\.crt: its extendedKeyUsage lacks clientAuth \(a node's certificate serves both ends of the link\)$/,
    );
    expect(error(withLinkTls(pair('client-only', client)))).toMatch(
      /client-only\.crt: its extendedKeyUsage lacks serverAuth \(/,
    );
  });
});

describe('flags: --link-tls-cert, --link-tls-key, --link-tls-ca', () => {
  const flags = ['--link-tls-cert', 'server.crt', '--link-tls-key', 'server.key'];

  it('give the link its TLS files (relative to the working directory)', () => {
    const c = run(undefined, [...CLUSTER_FLAGS, ...flags, '--link-tls-ca', 'vm-ca.crt']);
    expect(c.cluster?.linkTls).toEqual(files);
  });

  it('each overrides its part of the file’s', () => {
    const other = file('other-ca.crt', ca.cert);
    const c = run(withLinkTls(), ['--link-tls-ca', other]);
    expect(c.cluster?.linkTls).toEqual({ ...files, caFile: other });
  });

  it('go together, and with a cluster', () => {
    expect(error(undefined, [...CLUSTER_FLAGS, ...flags])).toMatch(
      /--link-tls-cert, --link-tls-key, --link-tls-ca go together \(or complete the config file's "cluster\.linkTls"\): missing --link-tls-ca/,
    );
    expect(error(undefined, [...flags, '--link-tls-ca', 'vm-ca.crt'])).toMatch(
      /a relay cluster needs --cluster, --node-id and --advertise/,
    );
  });
});
