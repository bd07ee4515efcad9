/**
 * TLS dial-in (issue 6): one shared TLS listener for every VM whose chardev is a TLS client
 * (`-object tls-creds-x509,id=tls0,dir=DIR,endpoint=client,verify-peer=on`
 * `-chardev socket,...,reconnect=1,tls-creds=tls0`). The relay requires a client certificate
 * signed by the configured VM CA (`requestCert` + `rejectUnauthorized`), then names the target
 * from that certificate:
 * - `sha256`: the SHA-256 fingerprint of the whole certificate pins one exact certificate, so
 *   it holds even if the CA also signs other certificates with the same subject; a renewal
 *   needs a config change;
 * - `cn`: the subject common name trusts the CA to give each name to one VM only (a CA kept for
 *   these VMs); renewals need no config change.
 * A fingerprint match wins over a CN match. Anything else is refused and reported (remote
 * address, reason, fingerprint and CN of an unknown certificate; never payloads or keys); a
 * failed handshake's reason is put in words by vm-tls-refusal.ts.
 * Each identified connection then goes to that target's {@link DialInSlot}, exactly as on a
 * per-VM port (dial-in.ts).
 *
 * QEMU, as the TLS client, checks the relay's certificate against its `ca-cert.pem` and the
 * chardev's `host=` (subject alt names: an IP address as IP SAN, a name as DNS SAN).
 */
import type net from 'node:net';
import tls from 'node:tls';
import {
  clientCertTlsOptions,
  rememberRemotes,
  remoteOf,
  trackConnections,
  useClientCertTls,
} from './client-cert-tls.ts';
import type { HostPort, VmTlsConfig } from './config/types.ts';
import { DialInSlot, listenOrFail, type DialInEvent } from './dial-in.ts';
import { TARGET_ID_PATTERN } from './auth/tokens.ts';
import { loadVmTlsFiles, readFileBytes, type ReadBytes, type VmTlsMaterial } from './tls-files.ts';
import { VmCertIndex, type VmCertId, type VmCertIdentity } from './vm-cert-id.ts';
import { describeVmHandshakeFailure, type VmTlsRefusalKind } from './vm-tls-refusal.ts';

export type { VmTlsMaterial } from './tls-files.ts';

/** Longest TLS handshake of a VM connection, ms; slower peers are cut off. */
export const VM_TLS_HANDSHAKE_TIMEOUT_MS = 10_000;

/** Most targets made from certificate CNs (`vmTls.targetFromCn`). */
export const MAX_CN_TARGETS = 4096;

/**
 * Most TCP connections the VM listener keeps open at once: each target holds at most one
 * VM connection, plus room for redials and handshakes; a flood beyond it is dropped on
 * accept (and reported) instead of costing a TLS handshake each.
 */
export function vmTlsMaxConnections(targetCount: number): number {
  return 16 + 2 * targetCount;
}

/** Events of the shared listener that belong to no target (its targets report through their own). */
export type DialInTlsEvent =
  | { kind: 'vm-refused'; remote: string; reason: string; refusal: VmTlsRefusalKind }
  | { kind: 'error'; message: string };

/** Fingerprint and CN of a peer certificate as Node reports it. */
export function peerIdentity(cert: tls.PeerCertificate): VmCertIdentity {
  const cn: unknown = (cert.subject as unknown as Record<string, unknown> | undefined)?.['CN'];
  return { sha256: cert.fingerprint256, cn: typeof cn === 'string' ? cn : undefined };
}

export interface DialInTlsListenerOptions {
  /** Listen address and PEM files. */
  config: VmTlsConfig;
  /** Target ids and the certificate that names each. */
  targets: Iterable<readonly [string, VmCertId]>;
  /** Events of a target's connection (connected, refused while held, parked answers, ...). */
  onTargetEvent?: (targetId: string, e: DialInEvent) => void;
  /** Connections that name no target: failed handshakes, unknown certificates. */
  onEvent?: (e: DialInTlsEvent) => void;
  /** Reads the PEM files (tests); default `readFileSync`. */
  readBytes?: ReadBytes;
  /** Every configured target id (a certificate CN never takes one, `isTargetFromCn`). */
  configuredIds?: Iterable<string>;
}

/** The shared TLS listener for dial-in VMs; one {@link DialInSlot} per target. */
export class DialInTlsListener {
  readonly #server: tls.Server;
  readonly #config: VmTlsConfig;
  readonly #index: VmCertIndex;
  readonly #slots = new Map<string, DialInSlot>();
  /** Configured target ids (never taken by a CN). */
  readonly #configured = new Set<string>();
  readonly #onTargetEvent: (targetId: string, e: DialInEvent) => void;
  readonly #onEvent: (e: DialInTlsEvent) => void;
  readonly #readBytes: ReadBytes;
  /** Every accepted TCP connection still open (handshaking, parked or taken). */
  readonly #connections: ReadonlySet<net.Socket>;

  /** Loads the PEM files now; throws `RELAY_CONFIG_INVALID` if they are unusable. */
  constructor(opts: DialInTlsListenerOptions) {
    this.#config = opts.config;
    this.#onEvent = opts.onEvent ?? (() => {});
    this.#readBytes = opts.readBytes ?? readFileBytes;
    const targets = [...opts.targets];
    this.#index = new VmCertIndex(targets);
    const onTargetEvent = opts.onTargetEvent ?? (() => {});
    this.#onTargetEvent = onTargetEvent;
    for (const id of opts.configuredIds ?? []) this.#configured.add(id);
    for (const [id] of targets) this.#configured.add(id);
    for (const [id] of targets)
      this.#slots.set(id, new DialInSlot({ onEvent: (e) => onTargetEvent(id, e) }));
    this.#server = tls.createServer(
      clientCertTlsOptions(this.loadFiles(), VM_TLS_HANDSHAKE_TIMEOUT_MS),
      (socket) => this.#onSecureConnection(socket),
    );
    const remoteOfHandshake = rememberRemotes(this.#server);
    this.#server.on('tlsClientError', (e: NodeJS.ErrnoException, socket: tls.TLSSocket) => {
      this.#onEvent({
        kind: 'vm-refused',
        remote: remoteOfHandshake(socket),
        reason: describeVmHandshakeFailure(e, socket),
        refusal: 'tls-handshake',
      });
      socket.destroy();
    });
    this.#server.maxConnections = vmTlsMaxConnections(
      opts.config.isTargetFromCn ? MAX_CN_TARGETS : targets.length,
    );
    this.#server.on('drop', (data?: { remoteAddress?: string; remotePort?: number }) =>
      this.#onEvent({
        kind: 'vm-refused',
        remote: `${data?.remoteAddress ?? '?'}:${data?.remotePort ?? '?'}`,
        reason: `too many connections to the VM listener (at most ${this.#server.maxConnections})`,
        refusal: 'over-cap',
      }),
    );
    this.#connections = trackConnections(this.#server);
    this.#server.on('error', (e) => this.#onEvent({ kind: 'error', message: e.message }));
  }

  /** Binds the listener; rejects with RELAY_LISTEN_FAILED. */
  async start(): Promise<void> {
    await listenOrFail(this.#server, this.#config.listen, 'TLS dial-in VMs');
  }

  /** The bound address (port resolved when the config asked for 0). */
  get address(): HostPort {
    return {
      host: this.#config.listen.host,
      port: (this.#server.address() as net.AddressInfo).port,
    };
  }

  /** TCP connections open now (handshaking, parked or taken). */
  get connectionCount(): number {
    return this.#connections.size;
  }

  /**
   * With `isTargetFromCn`: the slot of the target a certificate's CN names (made on first use,
   * at most {@link MAX_CN_TARGETS}), or undefined for a CN that is no valid target id or that a
   * configured target already uses.
   */
  cnSlot(cn: string | undefined): DialInSlot | undefined {
    if (!this.#config.isTargetFromCn || cn === undefined || !TARGET_ID_PATTERN.test(cn))
      return undefined;
    if (this.#configured.has(cn)) return undefined;
    let slot = this.#slots.get(cn);
    if (slot === undefined && this.#slots.size < MAX_CN_TARGETS) {
      slot = new DialInSlot({ onEvent: (e) => this.#onTargetEvent(cn, e) });
      this.#slots.set(cn, slot);
    }
    return slot;
  }

  /** The park/handover slot of a target, undefined for targets this listener does not serve. */
  slot(targetId: string): DialInSlot | undefined {
    return this.#slots.get(targetId);
  }

  /** Reads and checks the PEM files (see {@link loadVmTlsFiles}) without applying them. */
  loadFiles(): VmTlsMaterial {
    return loadVmTlsFiles(this.#config, this.#readBytes);
  }

  /**
   * Uses new PEM material (SIGHUP) for connections accepted from now on; live connections keep
   * theirs. Pass the result of {@link loadFiles}.
   */
  useFiles(material: VmTlsMaterial): void {
    useClientCertTls(this.#server, material);
  }

  #onSecureConnection(socket: tls.TLSSocket): void {
    const remote = remoteOf(socket);
    socket.on('error', () => {});
    // rejectUnauthorized already ended unverified handshakes; this is a second lock.
    if (!socket.authorized) return void socket.destroy();
    const identity = peerIdentity(socket.getPeerCertificate());
    const targetId = this.#index.lookup(identity);
    const slot = targetId === undefined ? this.cnSlot(identity.cn) : this.#slots.get(targetId);
    if (!slot) {
      this.#onEvent({
        kind: 'vm-refused',
        remote,
        reason: `no target names this certificate (sha256:${identity.sha256}, cn:${identity.cn ?? '-'})`,
        refusal: 'unknown-certificate',
      });
      socket.destroy();
      return;
    }
    slot.accept(socket, remote);
  }

  /**
   * Stops listening, drops parked connections and cuts off handshakes in progress. Call it
   * after the sessions holding taken connections have ended (the relay server does): any
   * connection still open is ended too, so closing never waits for a slow handshake.
   */
  async close(): Promise<void> {
    for (const slot of this.#slots.values()) slot.close();
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const raw of this.#connections) raw.destroy();
    await closed;
  }
}
