import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { defaultStaticDir, HELP_TEXT, parseArgs, parseHostPort } from '../src/config.ts';
import { configErrorMessage } from './config-error.ts';
import { makeCa, type Pem, type TestCa, tempDir, writeRelayFiles } from './vm-certs.ts';

function run(argv: string[], files: Record<string, string> = {}) {
  const parsed = parseArgs(argv, {
    cwd: '/work',
    readFile: (f) => {
      const text = files[f];
      if (text === undefined) throw new Error('ENOENT: no such file');
      return text;
    },
  });
  if (parsed.kind !== 'run') throw new Error('expected run');
  return parsed.config;
}

function error(argv: string[], files: Record<string, string> = {}): string {
  return configErrorMessage(() => run(argv, files));
}

describe('config', () => {
  it('has the contract defaults', () => {
    const c = run([]);
    expect(c.listen).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(c.targets).toEqual({ default: { host: '127.0.0.1', port: 35963 } });
    expect(c.defaultTarget).toBe('default');
    expect(c.staticDir).toBe(defaultStaticDir());
    expect(c.staticDir.endsWith(path.join('apps', 'web', 'dist'))).toBe(true);
  });

  it('takes flags in both forms and ignores the -- pnpm passes through', () => {
    const c = run([
      '--',
      '--listen',
      '0.0.0.0:9000',
      '--target=10.0.0.5:4000',
      '--static',
      'dist',
      '--allow-anonymous',
    ]);
    expect(c.listen).toEqual({ host: '0.0.0.0', port: 9000 });
    expect(c.targets['default']).toEqual({ host: '10.0.0.5', port: 4000 });
    expect(c.staticDir).toBe('/work/dist');
  });

  it('parses IPv6 and host names', () => {
    expect(parseHostPort('[::1]:8080', 'x')).toEqual({ host: '::1', port: 8080 });
    expect(parseHostPort('vm-7.lab:35963', 'x')).toEqual({ host: 'vm-7.lab', port: 35963 });
  });

  it('gives precise errors', () => {
    expect(error(['--listen', '8080'])).toMatch(/--listen must look like HOST:PORT/);
    expect(error(['--listen', '127.0.0.1:70000'])).toMatch(/--listen: port 70000 is out of range/);
    expect(error(['--target'])).toMatch(/--target needs a value/);
    expect(error(['--port', '1'])).toMatch(/unknown option "--port"/);
    expect(error(['--listen', 'a:1', '--listen', 'b:2'])).toMatch(/given twice/);
    expect(error(['--target', '127.0.0.1:0'])).toMatch(/port 0 is not a VM port/);
  });

  it('reads a JSON config file, flags win', () => {
    const files = {
      '/etc/cardlend/relay.json': JSON.stringify({
        listen: '127.0.0.1:9100',
        targets: { lab1: '127.0.0.1:5000', lab2: '10.1.1.1:5001' },
        defaultTarget: 'lab2',
        static: '../web',
        cleanupAckTimeoutMs: 250,
      }),
    };
    const c = run(['--config', '/etc/cardlend/relay.json', '--listen', '127.0.0.1:9200'], files);
    expect(c.listen.port).toBe(9200);
    expect(c.targets).toEqual({
      lab1: { host: '127.0.0.1', port: 5000 },
      lab2: { host: '10.1.1.1', port: 5001 },
    });
    expect(c.defaultTarget).toBe('lab2');
    expect(c.staticDir).toBe('/etc/web');
    expect(c.cleanupAckTimeoutMs).toBe(250);
  });

  it('names the file and key in config-file errors', () => {
    const f = (obj: unknown) => ({ '/c.json': JSON.stringify(obj) });
    expect(error(['--config', '/missing.json'])).toMatch(/--config: cannot read \/missing\.json/);
    expect(error(['--config', '/c.json'], { '/c.json': '{ nope' })).toMatch(
      /\/c\.json: not valid JSON/,
    );
    expect(error(['--config', '/c.json'], f([]))).toMatch(/top level must be a JSON object/);
    expect(error(['--config', '/c.json'], f({ lisen: 'a:1' }))).toMatch(/unknown key "lisen"/);
    expect(error(['--config', '/c.json'], f({ targets: { 'a b': '1.2.3.4:5' } }))).toMatch(
      /target id "a b"/,
    );
    expect(error(['--config', '/c.json'], f({ targets: { a: 5 } }))).toMatch(
      /"targets\.a" must be a string/,
    );
    expect(
      error(['--config', '/c.json'], f({ targets: { a: '1.2.3.4:5' }, defaultTarget: 'b' })),
    ).toMatch(/defaultTarget "b" is not one of the targets \(a\)/);
    expect(error(['--config', '/c.json'], f({ cleanupAckTimeoutMs: -1 }))).toMatch(
      /"cleanupAckTimeoutMs" must be a positive integer/,
    );
  });

  it('reads the HTTP (slowloris) limits from the "http" key and checks them', () => {
    const f = (obj: unknown) => ({ '/c.json': JSON.stringify(obj) });
    expect(run([]).http).toEqual({});
    const c = run(
      ['--config', '/c.json'],
      f({ http: { headersTimeoutMs: 2000, requestTimeoutMs: 5000, maxHeaderBytes: 4096 } }),
    );
    expect(c.http).toEqual({
      headersTimeoutMs: 2000,
      requestTimeoutMs: 5000,
      maxHeaderBytes: 4096,
    });
    expect(error(['--config', '/c.json'], f({ http: 5 }))).toMatch(/"http" must be an object/);
    expect(error(['--config', '/c.json'], f({ http: { headerTimeout: 1 } }))).toMatch(
      /unknown key "http\.headerTimeout"/,
    );
    expect(error(['--config', '/c.json'], f({ http: { keepAliveTimeoutMs: 0 } }))).toMatch(
      /"http\.keepAliveTimeoutMs" must be a positive integer/,
    );
    expect(
      error(
        ['--config', '/c.json'],
        f({ http: { headersTimeoutMs: 9000, requestTimeoutMs: 1000 } }),
      ),
    ).toMatch(/http limits: requestTimeoutMs must be ≥ headersTimeoutMs/);
  });

  it('validates TLS, proxy, token and origin settings', () => {
    expect(error(['--cert', 'c.pem'])).toMatch(/--cert and --key go together/);
    expect(error(['--cert', '/c.pem', '--key', '/k.pem'])).toMatch(
      /TLS certificate: cannot read \/c\.pem/,
    );
    expect(error(['--trust-proxy', 'not-an-ip'])).toMatch(/trusted proxies: .*not-an-ip/);
    expect(error(['--token-secret-file', '/s'], { '/s': 'short' })).toMatch(
      /--token-secret-file: cannot read \/s/,
    );
    expect(error(['--listen', '0.0.0.0:8080'])).toMatch(/without session tokens would let anyone/);
    expect(error(['--allow-origin', 'ftp://x'])).toMatch(/allowed origins/);
    const c = parseArgs(
      ['--listen', '0.0.0.0:8080', '--token-secret-file', '/s', '--cert', '/c', '--key', '/k'],
      {
        readFile: () => '',
        readBytes: (f) => Uint8Array.from(Buffer.from(f === '/s' ? 'x'.repeat(40) + '\n' : 'PEM')),
        cwd: '/',
      },
    );
    expect(c.kind === 'run' && c.config.tokenSecrets[0]?.length).toBe(40);
    expect(c.kind === 'run' && c.config.tls).toEqual({ certFile: '/c', keyFile: '/k' });
  });

  it('dial-in targets', () => {
    expect(run(['--dial-in', '127.0.0.1:7000']).targets['default']).toEqual({
      host: '127.0.0.1',
      port: 7000,
      isDialIn: true,
    });
    const c = run(['--config', '/c.json'], {
      '/c.json': JSON.stringify({
        targets: { a: { dialIn: '127.0.0.1:7001' }, b: '10.0.0.2:35963' },
      }),
    });
    expect(c.targets['a']).toEqual({ host: '127.0.0.1', port: 7001, isDialIn: true });
    expect(c.targets['b']).toEqual({ host: '10.0.0.2', port: 35963 });
    expect(error(['--dial-in', '127.0.0.1:7000', '--target', '127.0.0.1:1'])).toMatch(
      /exclude each other/,
    );
    expect(
      error(['--config', '/c.json'], {
        '/c.json': JSON.stringify({ targets: { a: { listen: '1.2.3.4:5' } } }),
      }),
    ).toMatch(/"targets\.a" must be "HOST:PORT" or \{ "dialIn"/);
    expect(
      error(['--config', '/c.json'], {
        '/c.json': JSON.stringify({
          targets: { a: { dialIn: '127.0.0.1:7' }, b: { dialIn: '127.0.0.1:7' } },
        }),
      }),
    ).toMatch(/used by two targets/);
  });

  it('--help explains usage and the QEMU options', () => {
    expect(parseArgs(['--help'])).toEqual({ kind: 'help' });
    expect(parseArgs(['--', '-h'])).toEqual({ kind: 'help' });
    expect(HELP_TEXT).toMatch(/--listen HOST:PORT/);
    expect(HELP_TEXT).toMatch(/nodelay=on/);
    expect(HELP_TEXT).toMatch(/ccid-card-passthru,chardev=vscard/);
  });
});

describe('config: TLS dial-in (vmTls, dialInTls, --dial-in-tls, --vm-tls-*)', () => {
  let dir: string;
  let files: { certFile: string; keyFile: string; caFile: string };
  let vmA: Pem;
  let ca: TestCa;

  beforeAll(async () => {
    dir = tempDir('cardlend-config-');
    ca = await makeCa();
    const [server, a] = await Promise.all([ca.issueServer('relay'), ca.issueClient('vm-a')]);
    vmA = a;
    files = writeRelayFiles(dir, server, ca.cert);
  });

  /** Writes `text` to a file in the temp dir; returns its path. */
  function file(name: string, text: string): string {
    const p = path.join(dir, name);
    writeFileSync(p, text);
    return p;
  }

  function vmTls(over: Record<string, unknown> = {}) {
    return {
      listen: '127.0.0.1:7443',
      cert: files.certFile,
      key: files.keyFile,
      ca: files.caFile,
      ...over,
    };
  }

  const conf = (obj: unknown) => ({ '/c.json': JSON.stringify(obj) });

  it('reads "vmTls" and { "dialInTls": … } targets (paths relative to the file, fingerprints normalised)', () => {
    const bare = vmA.sha256.replaceAll(':', '').toLowerCase();
    const cfgPath = path.join(dir, 'relay.json');
    const c = run(['--config', cfgPath], {
      [cfgPath]: JSON.stringify({
        targets: {
          a: { dialInTls: `sha256:${bare}` },
          b: { dialInTls: 'cn:vm-b.lab' },
          c: '10.0.0.3:35963',
        },
        defaultTarget: 'b',
        vmTls: { listen: '127.0.0.1:7443', cert: 'server.crt', key: 'server.key', ca: 'vm-ca.crt' },
      }),
    });
    expect(c.vmTls).toEqual({ listen: { host: '127.0.0.1', port: 7443 }, ...files });
    expect(c.targets['a']).toEqual({
      host: '127.0.0.1',
      port: 7443,
      isDialIn: true,
      vmCert: { kind: 'sha256', value: vmA.sha256 },
    });
    expect(c.targets['b']).toMatchObject({
      isDialIn: true,
      vmCert: { kind: 'cn', value: 'vm-b.lab' },
    });
    expect(c.targets['c']).toEqual({ host: '10.0.0.3', port: 35963 });
  });

  it('takes the listener and the default target from flags; a flag overrides its part of the file', () => {
    const c = run([
      '--dial-in-tls',
      `sha256:${vmA.sha256}`,
      '--vm-tls-listen',
      '127.0.0.1:7444',
      '--vm-tls-cert',
      files.certFile,
      '--vm-tls-key',
      files.keyFile,
      '--vm-tls-ca',
      files.caFile,
    ]);
    expect(c.targets['default']).toEqual({
      host: '127.0.0.1',
      port: 7444,
      isDialIn: true,
      vmCert: { kind: 'sha256', value: vmA.sha256 },
    });
    expect(c.vmTls?.listen).toEqual({ host: '127.0.0.1', port: 7444 });
    const merged = run(
      ['--config', '/c.json', '--vm-tls-listen', '[::1]:9443'],
      conf({ targets: { a: { dialInTls: 'cn:vm-a' } }, vmTls: vmTls() }),
    );
    expect(merged.vmTls).toEqual({ listen: { host: '::1', port: 9443 }, ...files });
  });

  it('names what is wrong with the PEM files', () => {
    const withTls = (over: Record<string, unknown>) =>
      error(
        ['--config', '/c.json'],
        conf({ targets: { a: { dialInTls: 'cn:vm-a' } }, vmTls: vmTls(over) }),
      );
    expect(withTls({ cert: path.join(dir, 'missing.crt') })).toMatch(
      /vmTls\.cert \(--vm-tls-cert\): cannot read .*missing\.crt: ENOENT/,
    );
    expect(withTls({ cert: file('garbage.crt', 'hello') })).toMatch(
      /vmTls\.cert \(--vm-tls-cert\): .*garbage\.crt holds no PEM certificate/,
    );
    expect(
      withTls({
        cert: file('broken.crt', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'),
      }),
    ).toMatch(/vmTls\.cert \(--vm-tls-cert\): .*broken\.crt: unreadable certificate/);
    expect(withTls({ key: file('not-a-key.pem', vmA.cert) })).toMatch(
      /vmTls\.key \(--vm-tls-key\): .*not-a-key\.pem is not an unencrypted PEM private key/,
    );
    expect(withTls({ key: file('other.key', vmA.key) })).toMatch(
      /vmTls\.key \(--vm-tls-key\): .*other\.key does not belong to the certificate/,
    );
    expect(withTls({ ca: file('leaf-as-ca.crt', vmA.cert) })).toMatch(
      /vmTls\.ca \(--vm-tls-ca\): .*leaf-as-ca\.crt: certificate #1 \(CN=vm-a\) is not a CA certificate/,
    );
    expect(withTls({ ca: file('empty-ca.crt', '') })).toMatch(
      /vmTls\.ca \(--vm-tls-ca\): .*holds no PEM certificate/,
    );
  });

  it('refuses an expired listener certificate', async () => {
    const expired = await ca.issueServer('old relay', { notAfter: new Date(Date.now() - 60_000) });
    const cert = file('expired.crt', expired.cert);
    const key = file('expired.key', expired.key);
    expect(
      error(
        ['--config', '/c.json'],
        conf({ targets: { a: { dialInTls: 'cn:vm-a' } }, vmTls: vmTls({ cert, key }) }),
      ),
    ).toMatch(/vmTls\.cert \(--vm-tls-cert\): .*expired\.crt expired on /);
  });

  it('checks the shape of "vmTls" and of { "dialInTls": … }', () => {
    const t = { a: { dialInTls: 'cn:vm-a' } };
    expect(error(['--config', '/c.json'], conf({ targets: t, vmTls: 'x' }))).toMatch(
      /"vmTls" must be an object/,
    );
    expect(
      error(['--config', '/c.json'], conf({ targets: t, vmTls: vmTls({ crt: 'x' }) })),
    ).toMatch(/unknown key "vmTls\.crt" \(allowed: listen, cert, key, ca, targetFromCn\)/);
    const { ca: _ca, ...noCa } = vmTls();
    expect(error(['--config', '/c.json'], conf({ targets: t, vmTls: noCa }))).toMatch(
      /"vmTls" lacks "ca"/,
    );
    expect(error(['--config', '/c.json'], conf({ targets: t, vmTls: vmTls({ key: '' }) }))).toMatch(
      /"vmTls\.key" must be a PEM file path/,
    );
    expect(
      error(['--config', '/c.json'], conf({ targets: t, vmTls: vmTls({ listen: 'x' }) })),
    ).toMatch(/"vmTls\.listen" must look like HOST:PORT/);
    const target = (v: unknown) =>
      error(['--config', '/c.json'], conf({ targets: { a: { dialInTls: v } }, vmTls: vmTls() }));
    expect(target('sha256:abcd')).toMatch(
      /"targets\.a"\.dialInTls: "sha256:abcd" is not a SHA-256 fingerprint/,
    );
    expect(target('vm-a')).toMatch(
      /dialInTls must be sha256:<SHA-256 fingerprint> or cn:<certificate subject CN>/,
    );
    expect(target('cn:')).toMatch(/the common name must be 1–64 characters/);
    expect(target('cn:' + 'x'.repeat(65))).toMatch(/the common name must be 1–64 characters/);
    expect(target(42)).toMatch(/dialInTls must be a string/);
  });

  it('cross-checks targets and the listener', () => {
    expect(
      error(['--config', '/c.json'], conf({ targets: { a: { dialInTls: 'cn:vm-a' } } })),
    ).toMatch(/target "a" dials in over TLS \(cn:vm-a\) but no VM TLS listener is configured/);
    expect(error(['--dial-in-tls', 'cn:vm-a'])).toMatch(/no VM TLS listener is configured/);
    expect(
      error(['--config', '/c.json'], conf({ targets: { a: '10.0.0.1:1' }, vmTls: vmTls() })),
    ).toMatch(/a VM TLS listener .* is configured but no target dials in over TLS/);
    const colon = vmA.sha256;
    const bare = colon.replaceAll(':', '').toLowerCase();
    expect(
      error(
        ['--config', '/c.json'],
        conf({
          targets: { a: { dialInTls: `sha256:${colon}` }, b: { dialInTls: `sha256:${bare}` } },
          vmTls: vmTls(),
        }),
      ),
    ).toMatch(/targets "a" and "b" both name the VM certificate sha256:/);
    expect(
      error(
        ['--config', '/c.json'],
        conf({
          targets: { a: { dialInTls: 'cn:vm-a' }, b: { dialInTls: 'cn:vm-a' } },
          vmTls: vmTls(),
        }),
      ),
    ).toMatch(/targets "a" and "b" both name the VM certificate cn:vm-a/);
    expect(
      error(
        ['--config', '/c.json'],
        conf({
          targets: { a: { dialInTls: 'cn:vm-a' }, b: { dialIn: '127.0.0.1:7443' } },
          vmTls: vmTls(),
        }),
      ),
    ).toMatch(/the VM TLS listener 127\.0\.0\.1:7443 is also a target's dial-in address/);
    expect(
      error(
        ['--config', '/c.json', '--listen', '127.0.0.1:7443'],
        conf({ targets: { a: { dialInTls: 'cn:vm-a' } }, vmTls: vmTls() }),
      ),
    ).toMatch(/is also the relay's --listen address/);
  });

  it('checks the flags', () => {
    expect(error(['--vm-tls-listen', '127.0.0.1:7443'])).toMatch(
      /go together .*: missing --vm-tls-cert, --vm-tls-key, --vm-tls-ca/,
    );
    expect(error(['--dial-in-tls', 'cn:vm-a', '--target', '127.0.0.1:1'])).toMatch(
      /--target and --dial-in-tls exclude each other/,
    );
    expect(error(['--dial-in-tls', 'cn:vm-a', '--dial-in', '127.0.0.1:1'])).toMatch(
      /--dial-in and --dial-in-tls exclude each other/,
    );
    expect(error(['--dial-in-tls', 'sha1:00'])).toMatch(/--dial-in-tls must be sha256:/);
  });
});
