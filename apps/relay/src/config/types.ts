/**
 * The relay's configuration as data: the validated {@link RelayConfig} the server runs with,
 * the {@link ConfigDraft} that parsing produces (file paths, nothing read yet), and the
 * defaults. No I/O, no parsing.
 *
 * The VM a session reaches is always chosen here, never by the browser: `targets` maps a
 * target id to host:port; without tokens every session goes to `defaultTarget`.
 */
import type { HttpLimitsOptions } from '../limits/http-limits.ts';
import { DEFAULT_MESSAGE_RATE, type TokenBucketOptions } from '../limits/rate-limit.ts';
import type { VmCertId } from '../vm-cert-id.ts';

export type { VmCertId } from '../vm-cert-id.ts';

/** A TCP endpoint. */
export interface HostPort {
  host: string;
  port: number;
}

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
  /**
   * A verified certificate no target names is its own target, with its subject CN as target id
   * (a VM fleet without a line per VM; issue 15). Default false.
   */
  isTargetFromCn?: boolean;
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
  /**
   * After a browser drops without a close frame, keep its lending session (card and reader in
   * the VM) this long for a reconnect with its resume ticket, ms (issue 14 §1). Default 30 000.
   */
  resumeGraceMs: number;
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
  /** A relay cluster sharing its state through a Redis-protocol store (cluster/). Default none. */
  cluster?: ClusterConfig;
  /** The operator API for the helpdesk (operator/). Default none (off). */
  operator?: OperatorConfig;
  /** VM endpoints tokens may name without a target line (cluster/endpoints.ts). Default none. */
  vmEndpoints?: EndpointAllowlist;
}

/**
 * A configuration as parsing leaves it: everything a {@link RelayConfig} holds, but the token
 * secrets as file names (read by config/load.ts).
 */
export interface ConfigDraft extends Omit<RelayConfig, 'tokenSecrets'> {
  /** Token secret files, current first (absolute paths). */
  tokenSecretFiles: string[];
  /** The flag or config key that named them, for errors. */
  tokenSecretSetting?: string;
}

export const DEFAULT_LISTEN: HostPort = { host: '127.0.0.1', port: 8080 };
export const DEFAULT_TARGET: HostPort = { host: '127.0.0.1', port: 35963 };

/** The defaults, with no token secrets, serving `staticDir`. */
export function configDefaults(staticDir: string): RelayConfig {
  return {
    listen: { ...DEFAULT_LISTEN },
    targets: { default: { ...DEFAULT_TARGET } },
    defaultTarget: 'default',
    staticDir,
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
    resumeGraceMs: 30_000,
    tls: undefined,
    vmTls: undefined,
    trustedProxies: [],
    http: {},
  };
}

/** The cluster settings (cluster/config.ts parses them). */
export interface ClusterConfig {
  /** `redis://[:PASSWORD@]HOST:PORT[/DB]` or `rediss://…` (TLS). */
  redisUrl: string;
  /** This node's id, unique in the cluster: 1–64 of `A–Z a–z 0–9 . _ -`. */
  nodeId: string;
  /** `HOST:PORT` other nodes (and the operator API) reach this node on. */
  advertise: string;
  /** VM lease length, ms (a dead node's VMs are free within it). Default 3000. */
  leaseMs?: number;
  /**
   * TLS on the internal link between nodes, both ends presenting a certificate the cluster CA
   * signed (cluster/link-tls.ts); PEM files, re-read on SIGHUP. Default none (plain TCP).
   */
  linkTls?: LinkTlsConfig;
}

/**
 * `"cluster.linkTls": { "cert", "key", "ca" }` as absolute paths: this node's certificate and
 * key, the cluster CA.
 */
export type LinkTlsConfig = CertKeyCaFiles;

/** Token-named VM endpoints the relay may serve (cluster/endpoints.ts compiles them). */
export interface EndpointAllowlist {
  /** CIDR blocks or single addresses (IPv4 or IPv6). */
  ranges: string[];
  /** Ports and inclusive port ranges. */
  ports: { from: number; to: number }[];
}

/** The operator API (operator/config.ts parses it). */
export interface OperatorConfig {
  listen: HostPort;
  /** The bearer secret (read at start; surrounding whitespace ignored). */
  secretFile: string;
  /**
   * HTTPS with client certificates signed by `caFile` (operator/tls.ts), the bearer secret
   * still required; PEM files, re-read on SIGHUP. Default none (plain HTTP).
   */
  tls?: OperatorTlsConfig;
}

/** The PEM files of a TLS end that requires its peer's certificate: certificate, key, CA. */
export interface CertKeyCaFiles {
  certFile: string;
  keyFile: string;
  caFile: string;
}

/** The operator API's `"tls": { "cert", "key", "ca" }` as absolute paths. */
export type OperatorTlsConfig = CertKeyCaFiles;
