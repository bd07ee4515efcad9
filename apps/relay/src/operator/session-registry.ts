/**
 * This node's live sessions for the operator API: learnt from the server's events, published
 * to the cluster store every second (they lapse with the node), and ended when the operator
 * asks (the request waits in the store for the node that holds the session). Ending is the
 * relay's ordinary end: the guest's outstanding commands are answered, the card and reader
 * removed; the page gets 4020, "the helpdesk ended it".
 */
import { RelayClose } from '@cardlend/vscard';
import type { ClusterStore, SessionRecord } from '../cluster/store.ts';
import type { ServerEvent } from '../server-events.ts';
import type { RelaySession } from '../session/relay-session.ts';

/** Close reason of a session the operator ended. */
export const ENDED_BY_OPERATOR_REASON = 'The helpdesk ended this session.';

interface Live {
  readonly sessionId: number;
  readonly target: string;
  readonly clientAddress: string;
  readonly since: number;
}

export interface SessionRegistryOptions {
  readonly store: ClusterStore;
  readonly nodeId: string;
  /** Live sessions by target id (the server's). */
  readonly sessions: ReadonlyMap<string, RelaySession>;
  readonly now: () => number;
  readonly intervalMs?: number;
}

export class SessionRegistry {
  readonly #o: SessionRegistryOptions;
  readonly #live = new Map<number, Live>();
  readonly #interval: NodeJS.Timeout;

  constructor(opts: SessionRegistryOptions) {
    this.#o = opts;
    this.#interval = setInterval(() => void this.tick(), opts.intervalMs ?? 1000);
    this.#interval.unref();
  }

  onServerEvent(e: ServerEvent): void {
    if (e.kind === 'session-start') {
      const clientAddress = e.remote.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
      this.#live.set(e.sessionId, {
        sessionId: e.sessionId,
        target: e.target,
        clientAddress,
        since: this.#o.now(),
      });
      void this.tick();
    } else if (e.kind === 'session-end') {
      this.#live.delete(e.sessionId);
      void this.tick();
    }
  }

  /** This node's sessions now. */
  records(): SessionRecord[] {
    return [...this.#live.values()].map((l) => ({
      node: this.#o.nodeId,
      sessionId: l.sessionId,
      target: l.target,
      clientAddress: l.clientAddress,
      since: l.since,
      apduCount: this.#o.sessions.get(l.target)?.stats.guestCommands ?? 0,
    }));
  }

  /** Ends a session of this node; false when it has none with that id. */
  end(sessionId: number): boolean {
    const live = this.#live.get(sessionId);
    const session = live ? this.#o.sessions.get(live.target) : undefined;
    if (!session) return false;
    session.close(RelayClose.ENDED_BY_OPERATOR, ENDED_BY_OPERATOR_REASON);
    return true;
  }

  /** Publishes the sessions and carries out the end requests waiting for this node. */
  async tick(): Promise<void> {
    const { store, nodeId } = this.#o;
    try {
      for (const id of await store.takeEndRequests(nodeId)) this.end(id);
      await store.publishSessions(nodeId, this.records(), 3 * (this.#o.intervalMs ?? 1000));
    } catch {
      // The store is down: the next tick tries again.
    }
  }

  /** Stops publishing and withdraws this node's list (its sessions have ended by now). */
  async close(): Promise<void> {
    clearInterval(this.#interval);
    this.#live.clear();
    await this.tick();
  }
}
