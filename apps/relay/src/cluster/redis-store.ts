/**
 * The {@link ClusterStore} on a Redis-protocol server (Redis 7, Valkey): plain SET NX PX for
 * token claims and directory entries, Lua scripts through EVAL (lua.ts) for the VM leases.
 * Valkey-compatible commands only.
 *
 * Failure is defined: no offline queue and no retried requests, so while the server cannot be
 * reached every call rejects at once with {@link StoreUnavailableError} (the caller refuses
 * new sessions); the client reconnects by itself every `retryMs` and availability listeners
 * hear both edges.
 */
import { randomBytes } from 'node:crypto';
import { Valkey } from 'iovalkey';
import { ACQUIRE_VM, RELEASE_VM, RENEW_VM, TAKE_ALL, WITHDRAW_DIAL_IN } from './lua.ts';
import {
  nodeOfHolder,
  StoreUnavailableError,
  type ClusterStore,
  type DirectoryEntry,
  type SessionRecord,
  type TicketRecord,
  type TokenClaimResult,
  type VmAcquireResult,
  type VmLeaseGrant,
  type VmRenewResult,
} from './store.ts';

export interface RedisStoreOptions {
  /** `redis://HOST:PORT` (optionally `redis://:PASSWORD@HOST:PORT`, `rediss://` for TLS). */
  readonly url: string;
  /** Key prefix, default `cardlend:`. */
  readonly prefix?: string;
  /** Longest wait for one command, ms (default 1000). */
  readonly commandTimeoutMs?: number;
  /** Delay between reconnection attempts, ms (default 250). */
  readonly retryMs?: number;
}

/** Fence counters outlive every lease by far; a lapsed one restarts at the store's clock. */
const FENCE_TTL_MS = 24 * 3600_000;

export class RedisClusterStore implements ClusterStore {
  readonly #client: Valkey;
  readonly #prefix: string;
  readonly #listeners = new Set<(isAvailable: boolean) => void>();
  #isAvailable = false;

  constructor(opts: RedisStoreOptions) {
    this.#prefix = opts.prefix ?? 'cardlend:';
    const retryMs = opts.retryMs ?? 250;
    this.#client = new Valkey(opts.url, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      commandTimeout: opts.commandTimeoutMs ?? 1000,
      connectTimeout: 2000,
      retryStrategy: () => retryMs,
      enableReadyCheck: true,
    });
    this.#client.on('ready', () => this.#setAvailable(true));
    this.#client.on('close', () => this.#setAvailable(false));
    this.#client.on('error', () => this.#setAvailable(false));
  }

  /** Connects once; a store down at start is not fatal (the node starts unavailable). */
  async start(): Promise<void> {
    await this.#client.connect().catch(() => {});
  }

  get isAvailable(): boolean {
    return this.#isAvailable;
  }

  onAvailability(listener: (isAvailable: boolean) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async claimToken(jti: string, ttlMs: number): Promise<TokenClaimResult> {
    const ms = Math.max(1, Math.ceil(ttlMs));
    const r = await this.#call(() => this.#client.set(this.#key('tok', jti), '1', 'PX', ms, 'NX'));
    return r === 'OK' ? { ok: true } : { ok: false, reason: 'used' };
  }

  async acquireVm(targetId: string, nodeId: string, leaseMs: number): Promise<VmAcquireResult> {
    const nonce = randomBytes(6).toString('base64url');
    const r = (await this.#eval(
      ACQUIRE_VM,
      [this.#key('vm', targetId), this.#key('fence', targetId), this.#key('unclean', targetId)],
      [nodeId, leaseMs, nonce, FENCE_TTL_MS],
    )) as [number, string, number?, number?];
    if (r[0] !== 1) return { ok: false, reason: 'held', holderNode: nodeOfHolder(r[1]) };
    const grant = { targetId, holder: r[1], fence: Number(r[2]) };
    return { ok: true, grant, isAfterLapse: r[3] === 1 };
  }

  async renewVm(grant: VmLeaseGrant, leaseMs: number): Promise<VmRenewResult> {
    const r = await this.#eval(
      RENEW_VM,
      [this.#key('vm', grant.targetId), this.#key('fence', grant.targetId)],
      [grant.holder, leaseMs, grant.fence, FENCE_TTL_MS],
    );
    return r === 1 ? 'renewed' : r === 2 ? 'reasserted' : 'lost';
  }

  async releaseVm(grant: VmLeaseGrant): Promise<void> {
    const keys = [this.#key('vm', grant.targetId), this.#key('unclean', grant.targetId)];
    await this.#eval(RELEASE_VM, keys, [grant.holder]);
  }

  async vmHolder(targetId: string): Promise<string | undefined> {
    const held = await this.#call(() => this.#client.get(this.#key('vm', targetId)));
    return held === null ? undefined : nodeOfHolder(held);
  }

  async announceDialIn(entry: DirectoryEntry, ttlMs: number): Promise<void> {
    const value = `${entry.nodeId}\n${entry.advertise}`;
    const key = this.#key('dial-in', entry.targetId);
    await this.#call(() => this.#client.set(key, value, 'PX', Math.ceil(ttlMs)));
  }

  async withdrawDialIn(targetId: string, nodeId: string): Promise<void> {
    await this.#eval(WITHDRAW_DIAL_IN, [this.#key('dial-in', targetId)], [nodeId]);
  }

  async findDialIn(targetId: string): Promise<DirectoryEntry | undefined> {
    const v = await this.#call(() => this.#client.get(this.#key('dial-in', targetId)));
    if (v === null) return undefined;
    const nl = v.indexOf('\n');
    if (nl < 0) return undefined;
    return { targetId, nodeId: v.slice(0, nl), advertise: v.slice(nl + 1) };
  }

  async putTicket(ticketHash: string, record: TicketRecord, ttlMs: number): Promise<void> {
    const value = `${record.state}\n${record.nodeId}\n${record.advertise}`;
    const key = this.#key('ticket', ticketHash);
    await this.#call(() => this.#client.set(key, value, 'PX', Math.max(1, Math.ceil(ttlMs))));
  }

  async findTicket(ticketHash: string): Promise<TicketRecord | undefined> {
    const v = await this.#call(() => this.#client.get(this.#key('ticket', ticketHash)));
    const [state, nodeId, advertise] = v === null ? [] : v.split('\n');
    if (state !== 'live' && state !== 'used' && state !== 'expired') return undefined;
    if (nodeId === undefined || advertise === undefined) return undefined;
    return { state, nodeId, advertise };
  }

  async publishSessions(
    nodeId: string,
    sessions: readonly SessionRecord[],
    ttlMs: number,
  ): Promise<void> {
    const key = this.#key('sessions', nodeId);
    await this.#call(() => this.#client.set(key, JSON.stringify(sessions), 'PX', Math.ceil(ttlMs)));
  }

  async listSessions(): Promise<SessionRecord[]> {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, found] = await this.#call(() =>
        this.#client.scan(cursor, 'MATCH', `${this.#prefix}sessions:*`, 'COUNT', 100),
      );
      cursor = next;
      keys.push(...found);
    } while (cursor !== '0');
    if (keys.length === 0) return [];
    const values = await this.#call(() => this.#client.mget(...keys));
    return values.flatMap((v) => (v === null ? [] : (JSON.parse(v) as SessionRecord[])));
  }

  async requestEnd(nodeId: string, sessionId: number, ttlMs: number): Promise<void> {
    const key = this.#key('end', nodeId);
    await this.#call(() =>
      this.#client.multi().sadd(key, String(sessionId)).pexpire(key, Math.ceil(ttlMs)).exec(),
    );
  }

  async takeEndRequests(nodeId: string): Promise<number[]> {
    const ids = (await this.#eval(TAKE_ALL, [this.#key('end', nodeId)], [])) as string[];
    return ids.map(Number).filter(Number.isSafeInteger);
  }

  async close(): Promise<void> {
    this.#listeners.clear();
    this.#client.disconnect();
    return Promise.resolve();
  }

  #key(kind: string, id: string): string {
    return `${this.#prefix}${kind}:${id}`;
  }

  #eval(script: string, keys: string[], args: (string | number)[]): Promise<unknown> {
    return this.#call(() => this.#client.eval(script, keys.length, ...keys, ...args));
  }

  async #call<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (e) {
      this.#setAvailable(false);
      // The connection itself still stands (a slow answer): the next PING decides.
      if (this.#client.status === 'ready')
        this.#client.ping().then(
          () => this.#setAvailable(this.#client.status === 'ready'),
          () => {},
        );
      throw new StoreUnavailableError(`cluster store: ${(e as Error).message}`, { cause: e });
    }
  }

  #setAvailable(isAvailable: boolean): void {
    if (this.#isAvailable === isAvailable) return;
    this.#isAvailable = isAvailable;
    for (const l of [...this.#listeners]) l(isAvailable);
  }
}
