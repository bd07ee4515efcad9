/**
 * Relay configuration: command-line flags and an optional JSON file, validated up front with
 * messages that name the offending flag or key. Flags override the file.
 *
 * The VM a session reaches is always chosen here, never by the browser: `targets` maps a
 * target id to host:port; without tokens (issue 6) every session goes to `defaultTarget`.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseTrustedProxies } from './auth/forwarded.ts';
import { createOriginPolicy, isLoopbackHost } from './auth/origin.ts';
import { parseSecret } from './auth/tokens.ts';
import {
  loadVmTlsFiles,
  MAX_CN_CHARS,
  normalizeSha256Fingerprint,
  VmCertIndex,
} from './dial-in-tls.ts';
import { RelayError } from './errors.ts';
import { httpServerOptions, type HttpLimitsOptions } from './limits/http-limits.ts';
import { DEFAULT_MESSAGE_RATE, type TokenBucketOptions } from './limits/rate-limit.ts';

/** A TCP endpoint. */
export interface HostPort {
  host: string;
  port: number;
}

/**
 * How a VM's TLS client certificate names its target (dial-in-tls.ts): `sha256` pins one exact
 * certificate by its SHA-256 fingerprint (`AB:CD:…`, upper case); `cn` accepts any certificate
 * the VM CA issued with that subject common name (case-sensitive, at most 64 characters).
 */
export type VmCertId = { kind: 'sha256'; value: string } | { kind: 'cn'; value: string };

/**
 * A VM's VSCard endpoint: the relay connects to QEMU's listening chardev, or — `isDialIn` —
 * listens on host:port for QEMU's client chardev (`reconnect=1`) to connect (dial-in.ts), or —
 * `isDialIn` with `vmCert` — QEMU connects to the shared TLS listener ({@link RelayConfig.vmTls})
 * with the client certificate `vmCert` names; host:port is then that listener's address.
 */
export interface TargetConfig extends HostPort {
  isDialIn?: boolean;
  vmCert?: VmCertId;
}

/** The shared TLS listener for dial-in VMs (dial-in-tls.ts). PEM files, re-read on SIGHUP. */
export interface VmTlsConfig {
  /** Where VMs connect. */
  listen: HostPort;
  /** The relay's certificate (QEMU checks it against its ca-cert.pem and the chardev's host). */
  certFile: string;
  keyFile: string;
  /** The CA (one or more PEM certificates) that signs the VMs' client certificates. */
  caFile: string;
}

/** The validated configuration. */
export interface RelayConfig {
  /** Where the HTTP + WebSocket listener binds. Default 127.0.0.1:8080. */
  listen: HostPort;
  /** VM VSCard endpoints by id. Default `{ default: 127.0.0.1:35963 }`. */
  targets: Record<string, TargetConfig>;
  /** The target id used for sessions (must be a key of `targets`). Default `'default'`. */
  defaultTarget: string;
  /** Directory of the built web app. Default `apps/web/dist`. */
  staticDir: string;
  /** How long to wait for a VM TCP connection, ms. Default 5000. */
  connectTimeoutMs: number;
  /** After the browser leaves: how long to wait for QEMU's acks of CardRemove/ReaderRemove, ms. Default 1000. */
  cleanupAckTimeoutMs: number;
  /** Pause reading the VM while more than this many bytes wait for the browser. Default 262144. */
  maxBufferedToBrowserBytes: number;
  /**
   * HMAC keys for session tokens (auth/tokens.ts), current first, then the previous one during
   * a rotation. Empty: no tokens; every session goes to `defaultTarget` (only allowed on a
   * loopback listener unless `isAnonymousAllowed`).
   */
  tokenSecrets: Uint8Array[];
  /** Sessions without a token on a non-loopback listener. Default false. */
  isAnonymousAllowed: boolean;
  /** Page origins allowed to open sessions besides the relay's own page (auth/origin.ts). */
  allowedOrigins: string[];
  /** Time to present a token after the WebSocket opens, ms. Default 5000. */
  authTimeoutMs: number;
  /** A session with no message either way for this long is closed, ms (0 = never). Default 1 800 000. */
  idleTimeoutMs: number;
  /** WebSocket ping interval; a missing pong by the next ping ends the session, ms. Default 30 000. */
  pingIntervalMs: number;
  /** Most concurrent sessions. Default 10 000. */
  maxSessions: number;
  /** Most concurrent sessions per client address (IPv6 by /64). Default 16. */
  maxSessionsPerAddress: number;
  /** Browser message rate limit per session (limits/rate-limit.ts); `null` disables. Default 5000/s, burst 10 000. */
  messageRate: TokenBucketOptions | null;
  /** Close a session whose browser leaves the VM paused this long, ms. Default 10 000. */
  slowReaderTimeoutMs: number;
  /** TLS on the listener: PEM files, re-read on SIGHUP. Default none (plain HTTP). */
  tls: { certFile: string; keyFile: string } | undefined;
  /** The shared TLS listener for dial-in VMs named by client certificate. Default none. */
  vmTls: VmTlsConfig | undefined;
  /**
   * Reverse proxies whose `Forwarded` / `X-Forwarded-For` headers are believed for the client
   * address (IPs, CIDR blocks, or `loopback`). Default none: headers are ignored.
   */
  trustedProxies: string[];
  /** Limits of the HTTP side before a session exists (slowloris, header sizes; limits/http-limits.ts). */
  http: HttpLimitsOptions;
}

export const DEFAULT_LISTEN: HostPort = { host: '127.0.0.1', port: 8080 };
export const DEFAULT_TARGET: HostPort = { host: '127.0.0.1', port: 35963 };

/** apps/web/dist, found relative to this file. */
export function defaultStaticDir(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../web/dist');
}

export function defaultConfig(): RelayConfig {
  return {
    listen: { ...DEFAULT_LISTEN },
    targets: { default: { ...DEFAULT_TARGET } },
    defaultTarget: 'default',
    staticDir: defaultStaticDir(),
    connectTimeoutMs: 5000,
    cleanupAckTimeoutMs: 1000,
    maxBufferedToBrowserBytes: 256 * 1024,
    tokenSecrets: [],
    isAnonymousAllowed: false,
    allowedOrigins: [],
    authTimeoutMs: 5000,
    idleTimeoutMs: 30 * 60_000,
    pingIntervalMs: 30_000,
    maxSessions: 10_000,
    maxSessionsPerAddress: 16,
    messageRate: { ...DEFAULT_MESSAGE_RATE },
    slowReaderTimeoutMs: 10_000,
    tls: undefined,
    vmTls: undefined,
    trustedProxies: [],
    http: {},
  };
}

export const HELP_TEXT = `cardlend relay — lends a smart card from a web page to a QEMU VM.

It serves the cardlend web page and a WebSocket endpoint (/vscard). Each browser
session gets one TCP connection to the VM's VSCard port (QEMU's ccid-card-passthru
chardev). Only one browser at a time may lend a card to a VM.

Usage:
  pnpm relay -- [options]

Options:
  --listen HOST:PORT    where the page and WebSocket are served
                        (default 127.0.0.1:8080; use [::1]:8080 for IPv6)
  --target HOST:PORT    the VM's VSCard chardev (default 127.0.0.1:35963)
  --dial-in HOST:PORT   instead of --target: listen here for the VM, whose chardev
                        is a client: -chardev socket,id=vscard,host=HOST,port=PORT,
                        reconnect=1,nodelay=on (bind an address only the VM reaches)
  --dial-in-tls VM-CERT
                        instead of --target: QEMU connects to the shared
                        --vm-tls-listen port with a client certificate that
                        VM-CERT names: sha256:<fingerprint> (that certificate
                        only) or cn:<subject CN> (any the VM CA issued so)
  --vm-tls-listen HOST:PORT
  --vm-tls-cert FILE --vm-tls-key FILE --vm-tls-ca FILE
                        one TLS listener for dial-in VMs: the relay's PEM
                        certificate and key, and the CA that signs the VMs'
                        client certificates (all re-read on SIGHUP). QEMU:
                        -object tls-creds-x509,id=tls0,dir=DIR,endpoint=client
                        -chardev socket,id=vscard,host=HOST,port=PORT,
                        reconnect=1,nodelay=on,tls-creds=tls0 (DIR holds
                        ca-cert.pem, client-cert.pem, client-key.pem)
  --static DIR          the built web app (default apps/web/dist)
  --token-secret-file FILE[,PREVIOUS]
                        require signed session tokens (HMAC key files, at least
                        32 bytes each; mint links with the mint-token script);
                        required unless --listen is a loopback address
  --allow-origin LIST   comma-separated page origins that may connect besides
                        the relay's own page, e.g. https://help.example.com
  --allow-anonymous     accept sessions without tokens on a public listener
                        (only for a trusted network)
  --cert FILE --key FILE
                        serve HTTPS/WSS with this PEM certificate and key
                        (re-read on SIGHUP, e.g. after a renewal)
  --trust-proxy LIST    behind a reverse proxy: comma-separated proxy addresses
                        or CIDR blocks (or "loopback") whose X-Forwarded-For /
                        Forwarded headers name the client; ignored otherwise
  --config FILE         JSON file with the same settings, e.g.
                          { "listen": "127.0.0.1:8080",
                            "targets": { "default": "127.0.0.1:35963" },
                            "static": "apps/web/dist" }
                        flags given on the command line win over the file
  -h, --help            show this text

Start QEMU with (port = the --target port):
  -device qemu-xhci -device usb-ccid
  -chardev socket,id=vscard,host=127.0.0.1,port=35963,server=on,wait=off,nodelay=on
  -device ccid-card-passthru,chardev=vscard
nodelay=on matters: QEMU writes each VSCard header and payload separately, and
without it every APDU waits ~40 ms for a delayed ACK.
`;

/** Result of parsing the command line. */
export type ParsedArgs = { kind: 'help' } | { kind: 'run'; config: RelayConfig };

function invalid(message: string): RelayError {
  return new RelayError('RELAY_CONFIG_INVALID', message);
}

/**
 * Parses `HOST:PORT` (IPv6 as `[addr]:PORT`). `what` names the flag or key in errors.
 */
export function parseHostPort(value: unknown, what: string): HostPort {
  if (typeof value !== 'string')
    throw invalid(`${what} must be a string "HOST:PORT", got ${JSON.stringify(value)}`);
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(value.trim());
  if (!m)
    throw invalid(
      `${what} must look like HOST:PORT (e.g. 127.0.0.1:8080 or [::1]:8080), got "${value}"`,
    );
  const host = (m[1] ?? m[2]) as string;
  const port = Number(m[3]);
  if (port < 0 || port > 65535) throw invalid(`${what}: port ${port} is out of range 0–65535`);
  return { host, port };
}

/**
 * Parses `sha256:<64 hex digits, ':' between pairs optional>` or `cn:<subject CN>` (see
 * {@link VmCertId}). `what` names the flag or key in errors.
 */
export function parseVmCertId(value: unknown, what: string): VmCertId {
  const form = 'sha256:<SHA-256 fingerprint> or cn:<certificate subject CN>';
  if (typeof value !== 'string') throw invalid(`${what} must be a string ${form}`);
  if (value.startsWith('sha256:')) {
    const fp = normalizeSha256Fingerprint(value.slice('sha256:'.length));
    if (fp === undefined)
      throw invalid(
        `${what}: "${value}" is not a SHA-256 fingerprint (64 hex digits, optionally AB:CD:… as openssl x509 -fingerprint -sha256 prints)`,
      );
    return { kind: 'sha256', value: fp };
  }
  if (value.startsWith('cn:')) {
    const cn = value.slice('cn:'.length);
    // eslint-disable-next-line no-control-regex
    if (cn === '' || cn.length > MAX_CN_CHARS || /[\u0000-\u001f\u007f]/.test(cn))
      throw invalid(
        `${what}: the common name must be 1–${MAX_CN_CHARS} characters without control characters`,
      );
    return { kind: 'cn', value: cn };
  }
  throw invalid(`${what} must be ${form}, got ${JSON.stringify(value)}`);
}

/**
 * `"HOST:PORT"` (the relay connects), `{ "dialIn": "HOST:PORT" }` (QEMU connects to a per-VM
 * port) or `{ "dialInTls": "sha256:…" | "cn:…" }` (QEMU connects to the `vmTls` listener).
 */
function parseTarget(value: unknown, what: string): TargetConfig {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const keys = Object.keys(value);
    if (keys.length === 1 && keys[0] === 'dialInTls') {
      return {
        host: '',
        port: 0,
        isDialIn: true,
        vmCert: parseVmCertId((value as Record<string, unknown>)['dialInTls'], `${what}.dialInTls`),
      };
    }
    if (keys.length !== 1 || keys[0] !== 'dialIn') {
      throw invalid(
        `${what} must be "HOST:PORT" or { "dialIn": "HOST:PORT" } or { "dialInTls": "sha256:…" | "cn:…" }`,
      );
    }
    return {
      ...parseHostPort((value as Record<string, unknown>)['dialIn'], `${what}.dialIn`),
      isDialIn: true,
    };
  }
  return parseHostPort(value, what);
}

function positiveInt(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw invalid(`${what} must be a positive integer, got ${JSON.stringify(value)}`);
  }
  return value;
}

const FILE_KEYS = [
  'cert',
  'key',
  'trustedProxies',
  'messageRatePerSecond',
  'messageBurst',
  'slowReaderTimeoutMs',
  'tokenSecretFiles',
  'allowAnonymous',
  'allowedOrigins',
  'authTimeoutMs',
  'idleTimeoutMs',
  'pingIntervalMs',
  'maxSessions',
  'maxSessionsPerAddress',
  'listen',
  'target',
  'targets',
  'defaultTarget',
  'static',
  'connectTimeoutMs',
  'cleanupAckTimeoutMs',
  'maxBufferedToBrowserBytes',
  'http',
  'vmTls',
] as const;

/** Keys of the config file's `"vmTls"` object. */
const VM_TLS_KEYS = ['listen', 'cert', 'key', 'ca'] as const;

/** Keys of the config file's `"http"` object (limits/http-limits.ts). */
const HTTP_KEYS = [
  'headersTimeoutMs',
  'requestTimeoutMs',
  'keepAliveTimeoutMs',
  'maxHeaderBytes',
] as const;

function stringList(value: unknown, what: string): string[] {
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string' && v !== '')) {
    throw invalid(`${what} must be an array of non-empty strings`);
  }
  return value as string[];
}

/** Reads token secret files (current first). */
export function loadSecrets(
  files: readonly string[],
  readBytes: (file: string) => Uint8Array,
  what: string,
): Uint8Array[] {
  if (files.length === 0 || files.length > 2)
    throw invalid(`${what}: give one or two secret files (current, previous)`);
  return files.map((file) => {
    let bytes: Uint8Array;
    try {
      bytes = readBytes(file);
    } catch (e) {
      throw new RelayError(
        'RELAY_CONFIG_INVALID',
        `${what}: cannot read ${file}: ${(e as Error).message}`,
        { cause: e },
      );
    }
    try {
      return parseSecret(bytes);
    } catch (e) {
      throw new RelayError('RELAY_CONFIG_INVALID', `${what}: ${file}: ${(e as Error).message}`, {
        cause: e,
      });
    }
  });
}

/** Applies a parsed JSON config file onto `config`. `source` names the file in errors. */
export function applyConfigFile(
  config: RelayConfig,
  json: unknown,
  source: string,
  baseDir: string,
  readBytes: (file: string) => Uint8Array = (f) => readFileSync(f),
): void {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw invalid(`${source}: the top level must be a JSON object`);
  }
  const obj = json as Record<string, unknown>;
  for (const key of Object.keys(obj)) {
    if (!(FILE_KEYS as readonly string[]).includes(key)) {
      throw invalid(`${source}: unknown key "${key}" (allowed: ${FILE_KEYS.join(', ')})`);
    }
  }
  if ('listen' in obj) config.listen = parseHostPort(obj['listen'], `${source}: "listen"`);
  if ('target' in obj && 'targets' in obj)
    throw invalid(`${source}: give either "target" or "targets", not both`);
  if ('target' in obj)
    config.targets = { default: parseHostPort(obj['target'], `${source}: "target"`) };
  if ('targets' in obj) {
    const t = obj['targets'];
    if (typeof t !== 'object' || t === null || Array.isArray(t)) {
      throw invalid(`${source}: "targets" must be an object mapping target ids to "HOST:PORT"`);
    }
    const targets: Record<string, TargetConfig> = {};
    for (const [id, v] of Object.entries(t as Record<string, unknown>)) {
      if (!/^[A-Za-z0-9._-]{1,64}$/.test(id)) {
        throw invalid(
          `${source}: target id "${id}" may only use letters, digits, '.', '_' and '-' (1–64 chars)`,
        );
      }
      targets[id] = parseTarget(v, `${source}: "targets.${id}"`);
    }
    if (Object.keys(targets).length === 0) throw invalid(`${source}: "targets" is empty`);
    config.targets = targets;
    if (!('defaultTarget' in obj) && !('default' in targets)) {
      config.defaultTarget = Object.keys(targets)[0] as string;
    }
  }
  if ('defaultTarget' in obj) {
    if (typeof obj['defaultTarget'] !== 'string')
      throw invalid(`${source}: "defaultTarget" must be a string`);
    config.defaultTarget = obj['defaultTarget'];
  }
  if ('static' in obj) {
    if (typeof obj['static'] !== 'string' || obj['static'] === '') {
      throw invalid(`${source}: "static" must be a directory path`);
    }
    config.staticDir = path.resolve(baseDir, obj['static']);
  }
  for (const key of [
    'connectTimeoutMs',
    'cleanupAckTimeoutMs',
    'maxBufferedToBrowserBytes',
    'authTimeoutMs',
    'pingIntervalMs',
    'maxSessions',
    'maxSessionsPerAddress',
    'slowReaderTimeoutMs',
  ] as const) {
    if (key in obj) config[key] = positiveInt(obj[key], `${source}: "${key}"`);
  }
  if ('idleTimeoutMs' in obj) {
    const v = obj['idleTimeoutMs'];
    config.idleTimeoutMs = v === 0 ? 0 : positiveInt(v, `${source}: "idleTimeoutMs" (0 = never)`);
  }
  if ('messageRatePerSecond' in obj || 'messageBurst' in obj) {
    const rate = config.messageRate ?? { ...DEFAULT_MESSAGE_RATE };
    config.messageRate = {
      ratePerSecond:
        'messageRatePerSecond' in obj
          ? positiveInt(obj['messageRatePerSecond'], `${source}: "messageRatePerSecond"`)
          : rate.ratePerSecond,
      burst:
        'messageBurst' in obj
          ? positiveInt(obj['messageBurst'], `${source}: "messageBurst"`)
          : rate.burst,
    };
  }
  if ('cert' in obj || 'key' in obj) {
    const cert = obj['cert'];
    const key = obj['key'];
    if (typeof cert !== 'string' || typeof key !== 'string' || cert === '' || key === '') {
      throw invalid(`${source}: "cert" and "key" must both be given as PEM file paths`);
    }
    config.tls = { certFile: path.resolve(baseDir, cert), keyFile: path.resolve(baseDir, key) };
  }
  if ('trustedProxies' in obj) {
    config.trustedProxies = stringList(obj['trustedProxies'], `${source}: "trustedProxies"`);
  }
  if ('allowAnonymous' in obj) {
    if (typeof obj['allowAnonymous'] !== 'boolean')
      throw invalid(`${source}: "allowAnonymous" must be true or false`);
    config.isAnonymousAllowed = obj['allowAnonymous'];
  }
  if ('allowedOrigins' in obj)
    config.allowedOrigins = stringList(obj['allowedOrigins'], `${source}: "allowedOrigins"`);
  if ('http' in obj) {
    const h = obj['http'];
    if (typeof h !== 'object' || h === null || Array.isArray(h)) {
      throw invalid(`${source}: "http" must be an object (keys: ${HTTP_KEYS.join(', ')})`);
    }
    const http: { -readonly [K in keyof HttpLimitsOptions]: HttpLimitsOptions[K] } = {
      ...config.http,
    };
    for (const [key, v] of Object.entries(h as Record<string, unknown>)) {
      if (!(HTTP_KEYS as readonly string[]).includes(key)) {
        throw invalid(`${source}: unknown key "http.${key}" (allowed: ${HTTP_KEYS.join(', ')})`);
      }
      http[key as (typeof HTTP_KEYS)[number]] = positiveInt(v, `${source}: "http.${key}"`);
    }
    config.http = http;
  }
  if ('vmTls' in obj) {
    const v = obj['vmTls'];
    const shape = `{ "listen": "HOST:PORT", "cert": FILE, "key": FILE, "ca": FILE }`;
    if (typeof v !== 'object' || v === null || Array.isArray(v))
      throw invalid(`${source}: "vmTls" must be an object ${shape}`);
    const vt = v as Record<string, unknown>;
    for (const key of Object.keys(vt)) {
      if (!(VM_TLS_KEYS as readonly string[]).includes(key))
        throw invalid(`${source}: unknown key "vmTls.${key}" (allowed: ${VM_TLS_KEYS.join(', ')})`);
    }
    const missing = VM_TLS_KEYS.filter((k) => !(k in vt));
    if (missing.length > 0)
      throw invalid(`${source}: "vmTls" lacks ${missing.map((k) => `"${k}"`).join(', ')}`);
    const file = (key: 'cert' | 'key' | 'ca'): string => {
      const f = vt[key];
      if (typeof f !== 'string' || f === '')
        throw invalid(`${source}: "vmTls.${key}" must be a PEM file path`);
      return path.resolve(baseDir, f);
    };
    config.vmTls = {
      listen: parseHostPort(vt['listen'], `${source}: "vmTls.listen"`),
      certFile: file('cert'),
      keyFile: file('key'),
      caFile: file('ca'),
    };
  }
  if ('tokenSecretFiles' in obj) {
    const files = stringList(obj['tokenSecretFiles'], `${source}: "tokenSecretFiles"`).map((f) =>
      path.resolve(baseDir, f),
    );
    config.tokenSecrets = loadSecrets(files, readBytes, `${source}: "tokenSecretFiles"`);
  }
}

/**
 * Parses the relay's argv (without `node script`). A bare `--` (pnpm passes it through) is
 * ignored. Throws {@link RelayError} `RELAY_CONFIG_INVALID` with a precise message.
 */
export function parseArgs(
  argv: readonly string[],
  io: {
    readFile?: (file: string) => string;
    readBytes?: (file: string) => Uint8Array;
    cwd?: string;
  } = {},
): ParsedArgs {
  const readFile = io.readFile ?? ((file: string) => readFileSync(file, 'utf8'));
  const readBytes = io.readBytes ?? ((file: string) => readFileSync(file));
  const cwd = io.cwd ?? process.cwd();
  const flags = new Map<string, string>();
  const valued = [
    '--cert',
    '--key',
    '--trust-proxy',
    '--listen',
    '--target',
    '--static',
    '--dial-in',
    '--dial-in-tls',
    '--vm-tls-listen',
    '--vm-tls-cert',
    '--vm-tls-key',
    '--vm-tls-ca',
    '--config',
    '--token-secret-file',
    '--allow-origin',
  ];
  let isAnonymousFlag = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') continue;
    if (arg === '-h' || arg === '--help') return { kind: 'help' };
    if (arg === '--allow-anonymous') {
      isAnonymousFlag = true;
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    if (!valued.includes(name)) {
      throw invalid(
        `unknown option "${arg}" (see --help; options: ${valued.join(', ')}, --allow-anonymous, --help)`,
      );
    }
    let value: string | undefined;
    if (name !== arg) value = arg.slice(eq + 1);
    else {
      value = argv[i + 1];
      i++;
      if (value === undefined || (value.startsWith('--') && value.length > 2)) {
        throw invalid(`${name} needs a value`);
      }
    }
    if (flags.has(name)) throw invalid(`${name} was given twice`);
    flags.set(name, value);
  }
  const config = defaultConfig();
  const file = flags.get('--config');
  if (file !== undefined) {
    const full = path.resolve(cwd, file);
    let text: string;
    try {
      text = readFile(full);
    } catch (e) {
      throw new RelayError(
        'RELAY_CONFIG_INVALID',
        `--config: cannot read ${full}: ${(e as Error).message}`,
        {
          cause: e,
        },
      );
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new RelayError(
        'RELAY_CONFIG_INVALID',
        `${full}: not valid JSON: ${(e as Error).message}`,
        { cause: e },
      );
    }
    applyConfigFile(config, json, full, path.dirname(full), readBytes);
  }
  const listen = flags.get('--listen');
  if (listen !== undefined) config.listen = parseHostPort(listen, '--listen');
  const target = flags.get('--target');
  const dialIn = flags.get('--dial-in');
  const dialInTls = flags.get('--dial-in-tls');
  const vmTargetFlags = [
    ['--target', target],
    ['--dial-in', dialIn],
    ['--dial-in-tls', dialInTls],
  ].filter(([, v]) => v !== undefined);
  if (vmTargetFlags.length > 1) {
    throw invalid(
      `${vmTargetFlags.map(([f]) => f).join(' and ')} exclude each other (--target: the relay connects to QEMU; --dial-in, --dial-in-tls: QEMU connects to the relay)`,
    );
  }
  if (dialInTls !== undefined) {
    config.targets[config.defaultTarget] = {
      host: '',
      port: 0,
      isDialIn: true,
      vmCert: parseVmCertId(dialInTls, '--dial-in-tls'),
    };
  }
  applyVmTlsFlags(config, flags, cwd);
  if (target !== undefined)
    config.targets[config.defaultTarget] = parseHostPort(target, '--target');
  if (dialIn !== undefined) {
    config.targets[config.defaultTarget] = {
      ...parseHostPort(dialIn, '--dial-in'),
      isDialIn: true,
    };
  }
  const staticDir = flags.get('--static');
  if (staticDir !== undefined) config.staticDir = path.resolve(cwd, staticDir);
  const secretFiles = flags.get('--token-secret-file');
  if (secretFiles !== undefined) {
    config.tokenSecrets = loadSecrets(
      secretFiles.split(',').map((f) => path.resolve(cwd, f.trim())),
      readBytes,
      '--token-secret-file',
    );
  }
  const origins = flags.get('--allow-origin');
  if (origins !== undefined) {
    config.allowedOrigins = origins
      .split(',')
      .map((o) => o.trim())
      .filter((o) => o !== '');
  }
  if (isAnonymousFlag) config.isAnonymousAllowed = true;
  const cert = flags.get('--cert');
  const key = flags.get('--key');
  if ((cert === undefined) !== (key === undefined))
    throw invalid('--cert and --key go together: give both or neither');
  if (cert !== undefined && key !== undefined) {
    config.tls = { certFile: path.resolve(cwd, cert), keyFile: path.resolve(cwd, key) };
  }
  const proxies = flags.get('--trust-proxy');
  if (proxies !== undefined) {
    config.trustedProxies = proxies
      .split(',')
      .map((p) => p.trim())
      .filter((p) => p !== '');
  }
  if (config.tls) {
    for (const [what, file] of [
      ['certificate', config.tls.certFile],
      ['key', config.tls.keyFile],
    ] as const) {
      try {
        readBytes(file);
      } catch (e) {
        throw new RelayError(
          'RELAY_CONFIG_INVALID',
          `TLS ${what}: cannot read ${file}: ${(e as Error).message}`,
          {
            cause: e,
          },
        );
      }
    }
  }
  if (config.vmTls) loadVmTlsFiles(config.vmTls, readBytes);
  validateConfig(config);
  // A TLS dial-in target's address is the shared listener's (banner, logs).
  for (const t of Object.values(config.targets)) {
    if (t.vmCert && config.vmTls) Object.assign(t, config.vmTls.listen);
  }
  return { kind: 'run', config };
}

const VM_TLS_FLAGS = ['--vm-tls-listen', '--vm-tls-cert', '--vm-tls-key', '--vm-tls-ca'] as const;

/** `--vm-tls-*` flags: each overrides its part of the file's `vmTls`; together they must be complete. */
function applyVmTlsFlags(config: RelayConfig, flags: Map<string, string>, cwd: string): void {
  if (!VM_TLS_FLAGS.some((f) => flags.has(f))) return;
  const listen = flags.get('--vm-tls-listen');
  const file = (flag: string): string | undefined => {
    const f = flags.get(flag);
    return f === undefined ? undefined : path.resolve(cwd, f);
  };
  const merged = {
    listen: listen === undefined ? config.vmTls?.listen : parseHostPort(listen, '--vm-tls-listen'),
    certFile: file('--vm-tls-cert') ?? config.vmTls?.certFile,
    keyFile: file('--vm-tls-key') ?? config.vmTls?.keyFile,
    caFile: file('--vm-tls-ca') ?? config.vmTls?.caFile,
  };
  const missing = VM_TLS_FLAGS.filter(
    (_, i) => [merged.listen, merged.certFile, merged.keyFile, merged.caFile][i] === undefined,
  );
  if (missing.length > 0)
    throw invalid(
      `${VM_TLS_FLAGS.join(', ')} go together (or complete the config file's "vmTls"): missing ${missing.join(', ')}`,
    );
  config.vmTls = merged as VmTlsConfig;
}

/** Cross-field checks. */
export function validateConfig(config: RelayConfig): void {
  if (!(config.defaultTarget in config.targets)) {
    throw invalid(
      `defaultTarget "${config.defaultTarget}" is not one of the targets (${Object.keys(config.targets).join(', ')})`,
    );
  }
  const dialInPorts = new Set<string>();
  const vmCerts: [string, VmCertId][] = [];
  for (const [id, t] of Object.entries(config.targets)) {
    if (t.vmCert) {
      if (!config.vmTls)
        throw invalid(
          `target "${id}" dials in over TLS (${t.vmCert.kind}:${t.vmCert.value}) but no VM TLS listener is configured: add "vmTls" to the config file or --vm-tls-listen/--vm-tls-cert/--vm-tls-key/--vm-tls-ca`,
        );
      vmCerts.push([id, t.vmCert]);
      continue;
    }
    if (t.port === 0 && !t.isDialIn) throw invalid(`target "${id}": port 0 is not a VM port`);
    if (t.isDialIn && t.port !== 0) {
      const key = `${t.host}:${t.port}`;
      if (dialInPorts.has(key))
        throw invalid(`target "${id}": dial-in address ${key} is used by two targets`);
      dialInPorts.add(key);
    }
  }
  if (config.vmTls) {
    if (vmCerts.length === 0)
      throw invalid(
        'a VM TLS listener (vmTls / --vm-tls-*) is configured but no target dials in over TLS: give a target { "dialInTls": "sha256:…" | "cn:…" } or --dial-in-tls',
      );
    new VmCertIndex(vmCerts); // throws when two targets name the same certificate or CN
    const { host, port } = config.vmTls.listen;
    if (port !== 0) {
      const key = `${host}:${port}`;
      if (dialInPorts.has(key))
        throw invalid(`the VM TLS listener ${key} is also a target's dial-in address`);
      if (config.listen.host === host && config.listen.port === port)
        throw invalid(`the VM TLS listener ${key} is also the relay's --listen address`);
    }
  }
  try {
    httpServerOptions(config.http);
  } catch (e) {
    throw new RelayError('RELAY_CONFIG_INVALID', `http limits: ${(e as Error).message}`, {
      cause: e,
    });
  }
  try {
    parseTrustedProxies(config.trustedProxies);
  } catch (e) {
    throw new RelayError('RELAY_CONFIG_INVALID', `trusted proxies: ${(e as Error).message}`, {
      cause: e,
    });
  }
  try {
    createOriginPolicy({ allowedOrigins: config.allowedOrigins, isLoopbackListener: true });
  } catch (e) {
    throw new RelayError('RELAY_CONFIG_INVALID', `allowed origins: ${(e as Error).message}`, {
      cause: e,
    });
  }
  if (
    config.tokenSecrets.length === 0 &&
    !config.isAnonymousAllowed &&
    !isLoopbackHost(config.listen.host)
  ) {
    throw invalid(
      `listening on ${config.listen.host} (not loopback) without session tokens would let anyone on the network ` +
        `reach the VM: add --token-secret-file FILE, or --allow-anonymous on a trusted network`,
    );
  }
}
