/**
 * The VM targets a relay serves: where each one's VSCard connection comes from (the relay
 * connects to QEMU's listening chardev, or QEMU dials in to a per-VM port or to the shared
 * TLS listener), and the VM lock — one browser per VM. A session that is only removing the
 * card from its VM still holds the lock; one newcomer (a reload, a reconnect) may wait for it.
 */
import net from 'node:net';
import { EndpointPolicy } from './cluster/endpoints.ts';
import type { HostPort, RelayConfig, TargetConfig } from './config/types.ts';
import { DialInPort, type DialInConnection, type DialInEvent } from './dial-in.ts';
import { DialInTlsListener } from './dial-in-tls.ts';
import type { RelaySession } from './session/relay-session.ts';
import type { VmTlsMaterial } from './tls-files.ts';

/** A VM connection for a session: the socket and bytes QEMU sent before the handover. */
export interface VmConnection {
  readonly socket: net.Socket;
  readonly pending: Uint8Array | undefined;
}

/** Where a dial-in target's VM connection is taken from (per-VM port or TLS listener). */
interface DialInSource {
  take(timeoutMs: number, signal?: AbortSignal): Promise<DialInConnection>;
}

/** The VM lock of one target, held from admission to the session's end. */
export class TargetLock {
  readonly targetId: string;
  /** The session, once admission is done. */
  session: RelaySession | undefined;
  #isFree = false;
  /** Someone waits for this lock (a newcomer or shutdown); one newcomer at most. */
  hasWaiter = false;
  #waiters: (() => void)[] | undefined;
  readonly #owner: Targets;

  constructor(owner: Targets, targetId: string) {
    this.#owner = owner;
    this.targetId = targetId;
  }

  /** The session holding it is only removing the card from the VM. */
  get isEnding(): boolean {
    return this.session !== undefined && this.session.phase !== 'open';
  }

  /** Resolves when the lock is released. */
  released(): Promise<void> {
    if (this.#isFree) return Promise.resolve();
    return new Promise((resolve) => (this.#waiters ??= []).push(resolve));
  }

  /** Frees the target; idempotent. */
  release(): void {
    this.#owner.unlock(this);
    if (this.#isFree) return;
    this.#isFree = true;
    const waiters = this.#waiters;
    this.#waiters = undefined;
    for (const w of waiters ?? []) w();
  }
}

export interface TargetsOptions {
  config: RelayConfig;
  /** Events of dial-in VM connections; `target` unset for TLS connections naming none. */
  onDialInEvent: (target: string | undefined, event: DialInEvent) => void;
}

export class Targets {
  readonly #config: RelayConfig;
  readonly #onDialInEvent: TargetsOptions['onDialInEvent'];
  readonly #dialInPorts = new Map<string, DialInPort>();
  readonly #sources = new Map<string, DialInSource>();
  readonly #vmTls: DialInTlsListener | undefined;
  readonly #locks = new Map<string, TargetLock>();
  readonly #endpoints: EndpointPolicy | undefined;

  /** Loads the VM TLS listener's files (throws `RELAY_CONFIG_INVALID`); binds nothing yet. */
  constructor(opts: TargetsOptions) {
    this.#config = opts.config;
    this.#onDialInEvent = opts.onDialInEvent;
    this.#endpoints = opts.config.vmEndpoints && new EndpointPolicy(opts.config.vmEndpoints);
    const emit = opts.onDialInEvent;
    this.#vmTls = opts.config.vmTls
      ? new DialInTlsListener({
          config: opts.config.vmTls,
          targets: Object.entries(opts.config.targets).flatMap(([id, t]) =>
            t.vmCert ? [[id, t.vmCert] as const] : [],
          ),
          onTargetEvent: (target, event) => emit(target, event),
          onEvent: (event) => emit(undefined, event),
          configuredIds: Object.keys(opts.config.targets),
        })
      : undefined;
  }

  /** Binds the dial-in ports and the VM TLS listener; rejects with `RELAY_LISTEN_FAILED`. */
  async start(): Promise<void> {
    try {
      for (const [id, t] of Object.entries(this.#config.targets)) {
        if (!t.isDialIn) continue;
        const slot = this.#vmTls?.slot(id);
        if (slot) {
          this.#sources.set(id, slot);
          continue;
        }
        const port = new DialInPort({
          listen: t,
          onEvent: (event) => this.#onDialInEvent(id, event),
        });
        await port.start();
        this.#dialInPorts.set(id, port);
        this.#sources.set(id, port);
      }
      await this.#vmTls?.start();
    } catch (e) {
      await Promise.all([...this.#dialInPorts.values()].map((p) => p.close()));
      throw e;
    }
  }

  /**
   * The configuration of a target, if the relay serves it: a configured one, or a VM endpoint
   * (`ep-<address>-<port>`) inside the config's `vmEndpoints` allowlist (cluster/endpoints.ts).
   */
  get(targetId: string): TargetConfig | undefined {
    return Object.hasOwn(this.#config.targets, targetId)
      ? this.#config.targets[targetId]
      : (this.#endpoints?.target(targetId) ?? this.#cnTarget(targetId));
  }

  /** With `vmTls.targetFromCn`: a target id a VM certificate's CN may name (dial-in.ts slot). */
  #cnTarget(targetId: string): TargetConfig | undefined {
    const vmTls = this.#config.vmTls;
    if (!vmTls?.isTargetFromCn || !this.#vmTls?.cnSlot(targetId)) return undefined;
    return { ...vmTls.listen, isDialIn: true, vmCert: { kind: 'cn', value: targetId } };
  }

  /** Bound per-VM dial-in ports by target id. */
  get dialInPorts(): ReadonlyMap<string, number> {
    return new Map([...this.#dialInPorts].map(([id, p]) => [id, p.port]));
  }

  /** The shared VM TLS listener's bound address, when configured. */
  get vmTlsAddress(): HostPort | undefined {
    return this.#vmTls?.address;
  }

  /** TCP connections the VM TLS listener holds now. */
  get vmTlsConnections(): number {
    return this.#vmTls?.connectionCount ?? 0;
  }

  /** Reads the VM TLS listener's files (SIGHUP), without applying them. */
  loadVmTlsFiles(): VmTlsMaterial | undefined {
    return this.#vmTls?.loadFiles();
  }

  useVmTlsFiles(material: VmTlsMaterial): void {
    this.#vmTls?.useFiles(material);
  }

  /** The lock held on a target, if any. */
  lockOf(targetId: string): TargetLock | undefined {
    return this.#locks.get(targetId);
  }

  /** Takes the VM lock of a free target; undefined when it is held. */
  tryLock(targetId: string): TargetLock | undefined {
    if (this.#locks.has(targetId)) return undefined;
    const lock = new TargetLock(this, targetId);
    this.#locks.set(targetId, lock);
    return lock;
  }

  /** Called by {@link TargetLock.release}. */
  unlock(lock: TargetLock): void {
    if (this.#locks.get(lock.targetId) === lock) this.#locks.delete(lock.targetId);
  }

  /** Resolves when every lock held now is released. */
  allReleased(): Promise<void> {
    return Promise.all([...this.#locks.values()].map((l) => l.released())).then(() => {});
  }

  /**
   * The VM connection of a target: connects to QEMU, or takes the connection QEMU dialled in
   * with (waiting up to `timeoutMs` for it). Rejects on error, timeout (`ETIMEDOUT`) or abort.
   */
  async connect(target: string, timeoutMs: number, signal: AbortSignal): Promise<VmConnection> {
    const source = this.#sources.get(target) ?? this.#vmTls?.cnSlot(target);
    if (source) return source.take(timeoutMs, signal);
    const config = this.get(target) as TargetConfig;
    return { socket: await connectTcp(config, timeoutMs, signal), pending: undefined };
  }

  /** Stops the dial-in listeners (after the sessions ended). */
  async close(): Promise<void> {
    await Promise.all([...this.#dialInPorts.values()].map((p) => p.close()));
    await this.#vmTls?.close();
  }
}

/** Connects to the VM; fails on error, timeout, or `signal` (the browser left). */
function connectTcp(target: HostPort, timeoutMs: number, signal: AbortSignal): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const tcp = net.connect({ host: target.host, port: target.port });
    tcp.setNoDelay(true);
    const timer = setTimeout(
      () => fail(Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' })),
      timeoutMs,
    );
    const onAbort = () => fail(new Error('browser left'));
    const fail = (e: Error) => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      tcp.destroy();
      reject(e);
    };
    if (signal.aborted) return fail(new Error('browser left'));
    tcp.once('error', fail);
    signal.addEventListener('abort', onAbort);
    tcp.once('connect', () => {
      clearTimeout(timer);
      tcp.off('error', fail);
      signal.removeEventListener('abort', onAbort);
      resolve(tcp);
    });
  });
}
