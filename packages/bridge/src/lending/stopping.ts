/**
 * Stopping lending (stop(), or the reader gone): the machine's `stopping` and `powering-off`
 * phases (machine.ts). On an open connection the VM is told goodbye — CardRemove and
 * ReaderRemove through the VSCard session, which asks to close once both are acknowledged
 * (vscard-protocol.md §6, "shutting down") — bounded by the stop timer; once the link is closed
 * the card is powered off, bounded too, when the options ask for it; then lending ends.
 */
import { BridgeError } from '../errors.ts';
import type { CardTrack } from './card-track.ts';
import type { Connection, LendingPhase, MachineCore } from './core.ts';

type StoppingPhase = Extract<LendingPhase, { name: 'stopping' }>;
type PoweringOffPhase = Extract<LendingPhase, { name: 'powering-off' }>;

/** What stopping needs of the machine besides {@link MachineCore}. */
export interface StopHost extends MachineCore {
  /** start() has not reported yet. */
  readonly isStartPending: boolean;
  /** Enters one of the stopping phases. */
  enter(phase: StoppingPhase | PoweringOffPhase): void;
  /** Forgets `conn`'s VSCard session: its timer, its queued guest commands. */
  dropSession(conn: Connection | null): void;
  /** start() fails with `error` (it was still pending). */
  failStart(error: BridgeError): void;
  /** Final state. */
  end(link: 'stopped', error: BridgeError | null): void;
}

/** The bounds of stopping. */
export interface StopOptions {
  /** Upper bound for each step (acks + close; power off), ms. */
  readonly stopTimeoutMs: number;
  readonly isPowerOffOnStop: boolean;
}

/** See the module comment. */
export class StopSequence {
  readonly #host: StopHost;
  readonly #card: CardTrack;
  readonly #opts: StopOptions;

  constructor(host: StopHost, card: CardTrack, opts: StopOptions) {
    this.#host = host;
    this.#card = card;
    this.#opts = opts;
  }

  /** Starts stopping, for `reason` (null: stop() was asked for). */
  begin(reason: BridgeError | null): void {
    const host = this.#host;
    const conn = host.conn;
    const phase: StoppingPhase = { name: 'stopping', conn, reason };
    host.enter(phase);
    // Stopping ends the session on purpose: nothing is being resumed any more.
    if (host.state.resume === 'resuming') host.setState({ resume: undefined });
    host.emit({ type: 'cancel-timer', timer: 'reconnect' });
    this.#card.stopRetrying();
    if (host.isStartPending) {
      const error =
        reason ??
        new BridgeError('BRIDGE_RELAY_CLOSED', {
          message: 'Lending was stopped before the VM acknowledged the reader.',
        });
      host.failStart(error);
    }
    if (conn === null) {
      this.linkClosed(phase);
      return;
    }
    host.emit({ type: 'arm-timer', timer: 'stop', atMs: host.nowMs + this.#opts.stopTimeoutMs });
    if (conn.session !== null && conn.status === 'open') {
      // CardRemove + ReaderRemove; the session asks to close once both are acked.
      host.run(conn, (s, now) => s.close(now));
    } else if (conn.status === 'open') {
      host.closeSocket(conn, 1000, 'Lending stopped');
    }
    // While opening, socketOpened closes the socket as soon as it opens.
  }

  /** The link is closed (or the stop timer gave up on it): power the card off, then end. */
  linkClosed(phase: StoppingPhase): void {
    const host = this.#host;
    host.emit({ type: 'cancel-timer', timer: 'stop' });
    const conn = phase.conn;
    phase.conn = null;
    if (conn !== null) host.closeSocket(conn, 1000, 'Lending stopped');
    host.dropSession(conn);
    const isPowerOff = this.#opts.isPowerOffOnStop && this.#card.canPowerOff;
    this.#card.forget();
    if (!isPowerOff) {
      host.end('stopped', phase.reason);
      return;
    }
    // Bounded: a reader exchange that never ends must not hold stop() forever.
    host.enter({ name: 'powering-off', reason: phase.reason });
    this.#card.powerOff();
    host.emit({
      type: 'arm-timer',
      timer: 'power-off',
      atMs: host.nowMs + this.#opts.stopTimeoutMs,
    });
  }

  /** The power off ended (either way; `phase` is the machine's current one). */
  poweredOff(phase: LendingPhase): void {
    if (phase.name !== 'powering-off') return;
    this.#host.emit({ type: 'cancel-timer', timer: 'power-off' });
    this.#host.end('stopped', phase.reason);
  }
}
