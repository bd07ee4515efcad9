import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultStaticDir, HELP_TEXT, parseArgs, parseHostPort } from '../src/config.ts';
import { isRelayError } from '../src/errors.ts';

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
  try {
    run(argv, files);
  } catch (e) {
    expect(isRelayError(e)).toBe(true);
    expect((e as { code: string }).code).toBe('RELAY_CONFIG_INVALID');
    return (e as Error).message;
  }
  throw new Error('expected an error');
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
