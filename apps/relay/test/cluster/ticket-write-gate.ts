/**
 * A cluster store whose ticket writes the test controls: passed on, held until the test
 * releases them, refused as if the store were unreachable, or delayed (a slow store). Every
 * other call goes to the store unchanged.
 */
import {
  StoreUnavailableError,
  type ClusterStore,
  type TicketRecord,
} from '../../src/cluster/store.ts';

/** What happens to the next ticket writes. */
export type TicketWriteMode = 'pass' | 'hold' | 'fail';

interface HeldWrite {
  readonly record: TicketRecord;
  readonly run: () => Promise<void>;
  readonly done: (e?: unknown) => void;
}

export class TicketWriteGate {
  mode: TicketWriteMode = 'pass';
  /** Each write waits this long before it reaches the store, ms (mode `pass`). */
  delayMs = 0;
  /** Writes held now (mode `hold`), in order. */
  readonly held: HeldWrite[] = [];
  /** Every write asked for, with its record state. */
  readonly writes: TicketRecord['state'][] = [];

  /** Makes `store`'s ticket writes go through this gate; returns the store. */
  wrap<S extends ClusterStore>(store: S): S {
    const put = store.putTicket.bind(store);
    store.putTicket = (hash, record, ttlMs) => this.#put(record, () => put(hash, record, ttlMs));
    return store;
  }

  /** Lets every held write reach the store; resolves once they did. */
  async release(): Promise<void> {
    for (const w of this.held.splice(0)) {
      await w.run().then(
        () => w.done(),
        (e: unknown) => w.done(e ?? new Error('write failed')),
      );
    }
  }

  #put(record: TicketRecord, run: () => Promise<void>): Promise<void> {
    this.writes.push(record.state);
    if (this.mode === 'fail')
      return Promise.reject(new StoreUnavailableError('ticket write refused by the test'));
    if (this.mode === 'pass') {
      if (this.delayMs === 0) return run();
      return new Promise((r) => setTimeout(r, this.delayMs)).then(run);
    }
    return new Promise((resolve, reject) => {
      this.held.push({ record, run, done: (e) => (e === undefined ? resolve() : reject(e)) });
    });
  }
}
