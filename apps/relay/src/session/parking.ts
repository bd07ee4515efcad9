/**
 * Parking a relay session after its browser dropped (issue 14 §1): whether a drop may park it
 * (the client holds a resume ticket, the drop had no close frame, the VM side still relays),
 * and the grace timer a resume has to beat. The session does the parking itself
 * (session/relay-session.ts): the VM side is read on, outstanding guest commands answered.
 */
import type { BrowserLink } from './browser-link.ts';
import type { SessionTimers, TimerHandle } from './timers.ts';
import type { VmLink } from './vm-link.ts';

/** WebSocket close code of a connection lost without a close frame. */
const CONNECTION_LOST = 1006;

export class Parking {
  /** A drop parks the session for this long, ms (0: never). */
  graceMs = 0;
  readonly #timers: SessionTimers;
  /** Set while parked. */
  #timer: TimerHandle | undefined;

  constructor(timers: SessionTimers) {
    this.#timers = timers;
  }

  /** The browser dropped and the VM side waits for a resume. */
  get isParked(): boolean {
    return this.#timer !== undefined;
  }

  /** Whether the browser's close (`browserCloseCode`) parks the session instead of ending it. */
  mayPark(browserCloseCode: number, browser: BrowserLink, vm: VmLink): boolean {
    return (
      this.graceMs > 0 &&
      browserCloseCode === CONNECTION_LOST &&
      browser.closeCode === undefined &&
      vm.phase === 'open' &&
      !vm.tcp.destroyed &&
      vm.tcp.writable
    );
  }

  /** Parked: `expire(arg)` runs when the grace is over, unless {@link end} comes first. */
  start<A>(expire: (arg: A) => void, arg: A): void {
    this.#timer = this.#timers.set(expire, this.graceMs, arg);
  }

  /** The grace timer fired. */
  expired(): void {
    this.#timer = undefined;
  }

  /** No longer parked (resumed, cleaning up, or over): the grace timer goes. */
  end(): void {
    if (this.#timer === undefined) return;
    this.#timers.clear(this.#timer);
    this.#timer = undefined;
  }
}
