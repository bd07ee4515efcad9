/**
 * The command line: `node:util` `parseArgs` reads it, this module gives each mistake a
 * precise message and applies the flags onto a {@link ConfigDraft} (flags win over the config
 * file). Pure: paths are resolved against `cwd`, nothing is read.
 */
import path from 'node:path';
import { parseArgs as parseArgv, type ParseArgsConfig } from 'node:util';
import { completeCluster, parseClusterFlags } from '../cluster/config.ts';
import type { ConfigDraft, VmTlsConfig } from './types.ts';
import { commaList, invalid, parseHostPort, parseVmCertId, tlsDialInTarget } from './values.ts';

/** What `--help` prints. */
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
  --cluster redis://HOST:PORT --node-id ID --advertise HOST:PORT
                        one node of a relay cluster: token claims, the VM locks
                        and dial-in VMs are shared through this Redis/Valkey
                        store; ID names this node, HOST:PORT is where the other
                        nodes reach it (config file: "cluster")
  --link-tls-cert FILE --link-tls-key FILE --link-tls-ca FILE
                        TLS on the link between cluster nodes: this node's PEM
                        certificate and key (used as TLS server and client) and
                        the cluster CA that signs every node's certificate
                        (re-read on SIGHUP; config file: "cluster.linkTls")
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

/** Flags that take a value, as `--name VALUE` or `--name=VALUE`. */
const VALUED = [
  'cert',
  'key',
  'trust-proxy',
  'listen',
  'target',
  'static',
  'dial-in',
  'dial-in-tls',
  'vm-tls-listen',
  'vm-tls-cert',
  'vm-tls-key',
  'vm-tls-ca',
  'config',
  'token-secret-file',
  'allow-origin',
  'cluster',
  'node-id',
  'advertise',
  'link-tls-cert',
  'link-tls-key',
  'link-tls-ca',
] as const;

type ValuedFlag = (typeof VALUED)[number];

const OPTIONS: NonNullable<ParseArgsConfig['options']> = {
  ...Object.fromEntries(VALUED.map((name) => [name, { type: 'string' as const }])),
  'allow-anonymous': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};

/** The flags given, each at most once. */
export interface CommandLineFlags {
  readonly values: ReadonlyMap<ValuedFlag, string>;
  readonly isAnonymousAllowed: boolean;
}

/** Result of {@link parseCommandLine}. */
export type CommandLine = { kind: 'help' } | { kind: 'run'; flags: CommandLineFlags };

const KNOWN = `options: ${VALUED.map((f) => `--${f}`).join(', ')}, --allow-anonymous, --help`;

/**
 * Reads argv (without `node script`). A bare `--` (pnpm passes it through) is ignored.
 * Throws `RELAY_CONFIG_INVALID` naming the flag: unknown, missing value, given twice.
 */
export function parseCommandLine(argv: readonly string[]): CommandLine {
  const { tokens } = parseArgv({
    args: argv.filter((a) => a !== '--'),
    options: OPTIONS,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const values = new Map<ValuedFlag, string>();
  let isAnonymousAllowed = false;
  for (const t of tokens) {
    if (t.kind === 'positional') throw invalid(`unexpected argument "${t.value}" (see --help)`);
    if (t.kind !== 'option') continue;
    if (t.name === 'help') return { kind: 'help' };
    if (t.name === 'allow-anonymous' && t.value === undefined) {
      isAnonymousAllowed = true;
      continue;
    }
    const name = t.name as ValuedFlag;
    if (!(VALUED as readonly string[]).includes(name))
      throw invalid(`unknown option "${t.rawName}" (see --help; ${KNOWN})`);
    if (t.value === undefined || (!t.inlineValue && /^--./.test(t.value)))
      throw invalid(`--${name} needs a value`);
    if (values.has(name)) throw invalid(`--${name} was given twice`);
    values.set(name, t.value);
  }
  return { kind: 'run', flags: { values, isAnonymousAllowed } };
}

/** Applies the command-line flags onto `draft`; relative paths are resolved against `cwd`. */
export function applyFlags(draft: ConfigDraft, flags: CommandLineFlags, cwd: string): void {
  const get = (name: ValuedFlag) => flags.values.get(name);
  const file = (name: ValuedFlag) => {
    const f = get(name);
    return f === undefined ? undefined : path.resolve(cwd, f);
  };
  const listen = get('listen');
  if (listen !== undefined) draft.listen = parseHostPort(listen, '--listen');
  applyDefaultTargetFlags(draft, flags);
  applyVmTlsFlags(draft, flags, cwd);
  const staticDir = file('static');
  if (staticDir !== undefined) draft.staticDir = staticDir;
  const secretFiles = get('token-secret-file');
  if (secretFiles !== undefined) {
    draft.tokenSecretFiles = secretFiles.split(',').map((f) => path.resolve(cwd, f.trim()));
    draft.tokenSecretSetting = '--token-secret-file';
  }
  const origins = get('allow-origin');
  if (origins !== undefined) draft.allowedOrigins = commaList(origins);
  if (flags.isAnonymousAllowed) draft.isAnonymousAllowed = true;
  const cert = file('cert');
  const key = file('key');
  if ((cert === undefined) !== (key === undefined))
    throw invalid('--cert and --key go together: give both or neither');
  if (cert !== undefined && key !== undefined) draft.tls = { certFile: cert, keyFile: key };
  const proxies = get('trust-proxy');
  if (proxies !== undefined) draft.trustedProxies = commaList(proxies);
  const cluster = completeCluster({
    ...draft.cluster,
    ...parseClusterFlags(
      {
        cluster: get('cluster'),
        nodeId: get('node-id'),
        advertise: get('advertise'),
        linkTls: {
          certFile: file('link-tls-cert'),
          keyFile: file('link-tls-key'),
          caFile: file('link-tls-ca'),
        },
      },
      draft.cluster?.linkTls,
    ),
  });
  if (cluster) draft.cluster = cluster;
}

/** `--target`, `--dial-in`, `--dial-in-tls`: the default target, in one of three forms. */
function applyDefaultTargetFlags(draft: ConfigDraft, flags: CommandLineFlags): void {
  const given = (['target', 'dial-in', 'dial-in-tls'] as const).filter((f) => flags.values.has(f));
  if (given.length > 1) {
    throw invalid(
      `${given.map((f) => `--${f}`).join(' and ')} exclude each other (--target: the relay connects to QEMU; --dial-in, --dial-in-tls: QEMU connects to the relay)`,
    );
  }
  const [flag] = given;
  if (flag === undefined) return;
  const value = flags.values.get(flag) as string;
  draft.targets[draft.defaultTarget] =
    flag === 'target'
      ? parseHostPort(value, '--target')
      : flag === 'dial-in'
        ? { ...parseHostPort(value, '--dial-in'), isDialIn: true }
        : tlsDialInTarget(parseVmCertId(value, '--dial-in-tls'));
}

const VM_TLS_FLAGS = ['vm-tls-listen', 'vm-tls-cert', 'vm-tls-key', 'vm-tls-ca'] as const;

/** `--vm-tls-*` flags: each overrides its part of the file's `vmTls`; together they must be complete. */
function applyVmTlsFlags(draft: ConfigDraft, flags: CommandLineFlags, cwd: string): void {
  if (!VM_TLS_FLAGS.some((f) => flags.values.has(f))) return;
  const listen = flags.values.get('vm-tls-listen');
  const file = (flag: ValuedFlag): string | undefined => {
    const f = flags.values.get(flag);
    return f === undefined ? undefined : path.resolve(cwd, f);
  };
  const merged = {
    listen: listen === undefined ? draft.vmTls?.listen : parseHostPort(listen, '--vm-tls-listen'),
    certFile: file('vm-tls-cert') ?? draft.vmTls?.certFile,
    keyFile: file('vm-tls-key') ?? draft.vmTls?.keyFile,
    caFile: file('vm-tls-ca') ?? draft.vmTls?.caFile,
  };
  const parts = [merged.listen, merged.certFile, merged.keyFile, merged.caFile];
  const missing = VM_TLS_FLAGS.filter((_, i) => parts[i] === undefined).map((f) => `--${f}`);
  if (missing.length > 0)
    throw invalid(
      `${VM_TLS_FLAGS.map((f) => `--${f}`).join(', ')} go together (or complete the config file's "vmTls"): missing ${missing.join(', ')}`,
    );
  draft.vmTls = merged as VmTlsConfig;
}
