/**
 * Heartbeat and idle timeout for every session on one shared timer (issue 6, "Limits":
 * idle timeout and ping/pong heartbeat per session). A timer wheel: sessions are spread
 * round-robin over `slots` buckets and one interval timer visits one bucket every
 * `pingIntervalMs / slots`, so each session is visited once per `pingIntervalMs` at O(1)
 * cost, with no timer per session (9 000 idle sessions cost one timer and 9 000 small
 * objects). Activity costs nothing per message: at each visit the wheel reads the session's
 * own traffic counter (`activityCount`) and restarts its idle clock when it moved; a caller
 * without such a counter calls `noteActivity()` instead (no clock read either way).
 *
 * On a visit: a session idle for ≥ `idleTimeoutMs` expires with 'idle-timeout'; one that
 * has not answered the previous ping expires with 'heartbeat-timeout' (a dead peer, or a
 * browser that never reads: its TCP window fills and the pong never comes); otherwise it
 * is pinged. Precision: expiry happens up to one `pingIntervalMs` late.
 *
 * A session is watched for its whole life, not only until its first expiry: an expiry (or
 * `pause()`) only pauses its entry — neither pinged nor expired — and `restart()` watches it
 * again as if just added (idle clock from now, no pong owed). So a session whose browser side
 * drops and comes back (a resumable session: parked on a drop, resumed by a reconnect) pauses
 * while parked and restarts on resume; only `remove()` (the session's end) forgets it.
 *
 * Integration (server.ts, session-runner.ts): one `new HeartbeatManager(config.heartbeat)` per
 * process. Per session after it is admitted:
 * `const hb = heartbeat.add({ ping: () => ws.ping(), expire: (kind) => session.close(refusalClose(kind)) })`,
 * `ws.on('pong', () => hb.notePong())`, the peer's `activityCount()` returning the session's
 * message count (or `hb.noteActivity()` on each message), `hb.pause()` while the session has no
 * browser side (parked), `hb.restart()` when a new one takes over, `hb.remove()` when the
 * session ends.
 * On shutdown: `heartbeat.close()`.
 */

/** Default interval between pings, ms (a dead peer is detected in ≤ 2 intervals). */
export const DEFAULT_PING_INTERVAL_MS = 30_000;

/** Default idle timeout, ms (30 min: a lent card may sit unused while the user works). 0 disables. */
export const DEFAULT_IDLE_TIMEOUT_MS = 30 * 60_000;

/** Default number of wheel slots. */
export const DEFAULT_HEARTBEAT_SLOTS = 16;

/** Why the manager ends a session; also a refusal kind (limits/refusals.ts). */
export type HeartbeatExpiry = 'idle-timeout' | 'heartbeat-timeout';

/** What the manager needs from a session. */
export interface HeartbeatPeer {
  /** Sends a WebSocket ping (RFC 6455 §5.5.2). Must not throw; errors are reported to `onError`. */
  ping(): void;
  /**
   * The session must end with this reason, or lose its browser side (a resumable session
   * parks). The entry is paused already: not called again until `restart()`.
   */
  expire(kind: HeartbeatExpiry): void;
  /**
   * A count that grows with the session's traffic (messages either way), read at each visit:
   * when it moved since the last one, the idle clock restarts at that visit. The message
   * path then only counts, as it does anyway. Activity is credited up to one interval late,
   * so an idle expiry comes up to one interval later than the last message allows, never
   * earlier. Must not throw; errors are reported to `onError`.
   */
  activityCount?(): number;
}

/** The session's side of the manager. */
export interface HeartbeatHandle {
  /** A message passed: the idle clock restarts. O(1), no clock read. */
  noteActivity(): void;
  /** A pong arrived (any pong counts, RFC 6455 §5.5.3 allows unsolicited ones). */
  notePong(): void;
  /** Stops pinging and expiring the session until {@link restart}; idempotent. */
  pause(): void;
  /**
   * Watches the session again as if just added: its idle clock starts now and it owes no
   * pong (a ping sent before does not count against it). Nothing after {@link remove}.
   */
  restart(): void;
  /** Stops watching the session for good (it ended); idempotent. */
  remove(): void;
}

/** Options of {@link HeartbeatManager}. */
export interface HeartbeatOptions {
  /** Interval between pings of one session, ms (≥ 10); default {@link DEFAULT_PING_INTERVAL_MS}. */
  readonly pingIntervalMs?: number;
  /** Idle timeout, ms; 0 disables; default {@link DEFAULT_IDLE_TIMEOUT_MS}. */
  readonly idleTimeoutMs?: number;
  /** Wheel slots (1..1024); default {@link DEFAULT_HEARTBEAT_SLOTS}. */
  readonly slots?: number;
  /** Receives errors thrown by a peer's callbacks (the wheel keeps running). */
  readonly onError?: (error: unknown) => void;
}

/** One session; it is also the session's handle (one small object per session). */
class Entry implements HeartbeatHandle {
  readonly peer: HeartbeatPeer;
  /** The wheel slot holding the entry while watched; undefined while paused or removed. */
  slot: Set<Entry> | undefined = undefined;
  readonly manager: HeartbeatManager;
  lastActivityTick = 0;
  /** The peer's `activityCount()` at the last visit. */
  lastActivityCount = 0;
  isAwaitingPong = false;
  isRemoved = false;

  constructor(manager: HeartbeatManager, peer: HeartbeatPeer) {
    this.manager = manager;
    this.peer = peer;
  }

  noteActivity(): void {
    this.lastActivityTick = this.manager.tick;
  }

  notePong(): void {
    this.isAwaitingPong = false;
  }

  pause(): void {
    this.manager.unwatch(this);
  }

  restart(): void {
    if (this.isRemoved) return;
    this.manager.unwatch(this);
    this.manager.watch(this);
  }

  remove(): void {
    this.isRemoved = true;
    this.manager.unwatch(this);
  }
}

/** The shared heartbeat wheel. The timer runs only while sessions are watched, and is unref'd. */
export class HeartbeatManager {
  readonly #slots: Set<Entry>[];
  readonly #tickMs: number;
  readonly #idleTicks: number;
  readonly #onError: (error: unknown) => void;
  #tick = 0;
  #cursor = 0;
  #next = 0;
  #size = 0;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(opts: HeartbeatOptions = {}) {
    const pingIntervalMs = opts.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS;
    const idleTimeoutMs = opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    const slots = opts.slots ?? DEFAULT_HEARTBEAT_SLOTS;
    if (!Number.isFinite(pingIntervalMs) || pingIntervalMs < 10)
      throw new RangeError('pingIntervalMs must be ≥ 10');
    if (!Number.isFinite(idleTimeoutMs) || idleTimeoutMs < 0)
      throw new RangeError('idleTimeoutMs must be ≥ 0');
    if (!Number.isInteger(slots) || slots < 1 || slots > 1024)
      throw new RangeError('slots must be an integer in 1..1024');
    this.#slots = Array.from({ length: slots }, () => new Set<Entry>());
    this.#tickMs = pingIntervalMs / slots;
    this.#idleTicks = idleTimeoutMs === 0 ? Infinity : Math.ceil(idleTimeoutMs / this.#tickMs);
    this.#onError = opts.onError ?? (() => {});
  }

  /** Wheel ticks since creation. */
  get tick(): number {
    return this.#tick;
  }

  /** Watched sessions. */
  get size(): number {
    return this.#size;
  }

  /** Starts watching a session. */
  add(peer: HeartbeatPeer): HeartbeatHandle {
    const entry = new Entry(this, peer);
    this.watch(entry);
    return entry;
  }

  /** Stops the timer and forgets every watched session (none is expired). */
  close(): void {
    for (const slot of this.#slots) {
      for (const entry of slot) {
        entry.slot = undefined;
        entry.isRemoved = true;
      }
      slot.clear();
    }
    this.#size = 0;
    this.#stop();
  }

  /** Puts an unwatched entry on the wheel as a new session (its `restart()`, `add`). */
  watch(entry: Entry): void {
    const slot = this.#slots[this.#next++ % this.#slots.length] as Set<Entry>;
    entry.slot = slot;
    entry.lastActivityTick = this.#tick;
    entry.lastActivityCount = entry.peer.activityCount?.() ?? 0;
    entry.isAwaitingPong = false;
    slot.add(entry);
    this.#size++;
    if (this.#timer === undefined) {
      this.#timer = setInterval(() => this.#advance(), this.#tickMs);
      this.#timer.unref();
    }
  }

  /** Takes an entry off the wheel (paused or removed); idempotent. */
  unwatch(entry: Entry): void {
    const slot = entry.slot;
    if (slot === undefined) return;
    slot.delete(entry);
    entry.slot = undefined;
    this.#size--;
    if (this.#size === 0) this.#stop();
  }

  #stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #advance(): void {
    this.#tick++;
    const slot = this.#slots[this.#cursor] as Set<Entry>;
    this.#cursor = (this.#cursor + 1) % this.#slots.length;
    for (const entry of slot) {
      try {
        const count = entry.peer.activityCount?.();
        if (count !== undefined && count !== entry.lastActivityCount) {
          entry.lastActivityCount = count;
          entry.lastActivityTick = this.#tick;
        }
        let expiry: HeartbeatExpiry | undefined;
        if (this.#tick - entry.lastActivityTick >= this.#idleTicks) expiry = 'idle-timeout';
        else if (entry.isAwaitingPong) expiry = 'heartbeat-timeout';
        if (expiry !== undefined) {
          this.unwatch(entry);
          entry.peer.expire(expiry);
        } else {
          entry.isAwaitingPong = true;
          entry.peer.ping();
        }
      } catch (e) {
        this.#onError(e);
      }
    }
  }
}
