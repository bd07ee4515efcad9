/**
 * TLS on the internal link between relay nodes (config `"cluster.linkTls": { "cert", "key",
 * "ca" }`, flags `--link-tls-cert/-key/-ca`). Without it the link is plain TCP, as before.
 *
 * - The link listener speaks TLS 1.2 or later and takes only peers whose certificate the
 *   cluster CA signed (`requestCert` + `rejectUnauthorized`, client-cert-tls.ts, as the VM
 *   listener and the operator API do); a handshake has {@link LINK_TLS_HANDSHAKE_TIMEOUT_MS}.
 * - A node dialling the link presents its certificate and verifies the peer's chain (and
 *   expiry) against the same CA.
 * - The server name is not checked: the address dialled is another node's `--advertise`, read
 *   from the cluster's own directory, often an IP address, and nodes come and go. The cluster
 *   CA is the cluster's own (it signs the nodes' certificates and nothing else), so a
 *   certificate it signed is what makes a peer a node, whatever name it carries:
 *   `checkServerIdentity` accepts every name of a verified chain.
 * - One certificate per node serves both ends of the link: its extendedKeyUsage, if it has
 *   one, must allow TLS server and client authentication (checked when the files are loaded).
 * - The signed hello (link-auth.ts) stays as it is inside the TLS: a peer also needs the
 *   token secret.
 *
 * The failures a mixed fleet meets (one node with linkTls, one without; another CA) are
 * described by {@link describeLinkFailure} for the logs.
 */
import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import { clientCertTlsOptions, TLS_MIN_VERSION } from '../client-cert-tls.ts';
import type { LinkTlsConfig } from '../config/types.ts';
import { invalid } from '../config/values.ts';
import { classifyHandshakeFailure, refusedHandshake } from '../tls-handshake-failure.ts';
import {
  loadCertKeyCaFiles,
  readFileBytes,
  type ReadBytes,
  type TlsMaterial,
} from '../tls-files.ts';

/** Longest TLS handshake of a link, ms (a link's hello has 5 s after it). */
export const LINK_TLS_HANDSHAKE_TIMEOUT_MS = 5000;

/** The first byte of a TLS handshake record (a ClientHello), never the first of a hello line. */
export const TLS_HANDSHAKE_RECORD = 0x16;

const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

const label = (key: 'cert' | 'key' | 'ca'): string => `cluster.linkTls.${key} (--link-tls-${key})`;

/**
 * Reads and checks `cluster.linkTls`'s PEM files as the VM listener's (tls-files.ts), and that
 * the certificate may serve as TLS server and client; throws `RELAY_CONFIG_INVALID` naming
 * `cluster.linkTls.<key>`, the file and what is wrong.
 */
export function loadLinkTlsFiles(
  files: LinkTlsConfig,
  readBytes: ReadBytes = readFileBytes,
  nowMs: number = Date.now(),
): TlsMaterial {
  const material = loadCertKeyCaFiles(files, label, readBytes, nowMs);
  // loadCertKeyCaFiles parsed the first certificate of the file already.
  const usages = new X509Certificate(material.cert).keyUsage;
  const lacking = [
    usages === undefined || usages.includes(SERVER_AUTH) ? '' : 'serverAuth',
    usages === undefined || usages.includes(CLIENT_AUTH) ? '' : 'clientAuth',
  ].filter(Boolean);
  if (lacking.length > 0)
    throw invalid(
      `${label('cert')}: ${files.certFile}: its extendedKeyUsage lacks ${lacking.join(' and ')} (a node's certificate serves both ends of the link)`,
    );
  return material;
}

/** The link listener's TLS options: a peer certificate the cluster CA signed is required. */
export function linkServerTlsOptions(material: TlsMaterial): tls.TlsOptions {
  return clientCertTlsOptions(material, LINK_TLS_HANDSHAKE_TIMEOUT_MS);
}

/** Accepts the name of any certificate whose chain the cluster CA verified (see above). */
function anyNameTheClusterCaSigned(): undefined {
  return undefined;
}

/** The dialling side: this node's certificate and the cluster CA, replaced on SIGHUP. */
export class LinkTlsClient {
  #context: tls.SecureContext;

  constructor(material: TlsMaterial) {
    this.#context = LinkTlsClient.#contextOf(material);
  }

  static #contextOf(material: TlsMaterial): tls.SecureContext {
    return tls.createSecureContext({ ...material, minVersion: TLS_MIN_VERSION });
  }

  /** New links present and trust `material`; live ones keep theirs. */
  use(material: TlsMaterial): void {
    this.#context = LinkTlsClient.#contextOf(material);
  }

  /** A TLS connection to a node's link that verifies the peer against the cluster CA. */
  connect(host: string, port: number): tls.TLSSocket {
    return tls.connect({
      host,
      port,
      secureContext: this.#context,
      rejectUnauthorized: true,
      checkServerIdentity: anyNameTheClusterCaSigned,
    });
  }
}

/**
 * Why a link failed, in words a log reader acts on. `isTls`: this node dials with TLS;
 * `isSecure`: its handshake had completed.
 */
export function describeLinkFailure(
  e: NodeJS.ErrnoException,
  isTls: boolean,
  isSecure: boolean,
): string {
  if (!isTls) return e.message;
  const { kind, code } = classifyHandshakeFailure(e.code ?? '', undefined);
  if (kind === 'unverified')
    return `TLS: the node's certificate is not one the cluster CA signed (${code})`;
  if (kind === 'alert') return `TLS: the node refused this node's certificate or TLS (${code})`;
  if (kind === 'plain')
    return 'TLS: the node answered in plain TCP (cluster.linkTls is set here, not there)';
  if (!isSecure && kind === 'closed')
    return `TLS: the node ended the handshake (${code}; no cluster.linkTls there, it refused this node's certificate, or it is at its cap of links before their hello)`;
  return e.message;
}

/** Why the link listener refused a TLS handshake (`tlsClientError`), for the log. */
export function describeRefusedHandshake(e: NodeJS.ErrnoException, socket: tls.TLSSocket): string {
  const { kind, code } = refusedHandshake(e, socket);
  if (kind === 'unverified') return `its certificate is not one the cluster CA signed (${code})`;
  if (kind === 'plain')
    return `${code}: it speaks plain TCP (cluster.linkTls is set here, not there)`;
  return code;
}
