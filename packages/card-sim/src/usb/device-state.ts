/**
 * A simulated USB device's host-visible state (gone, opened, configured, claimed, halts, held by
 * another program) with Chrome's checks on it, and the pending calls that unplug or close reject.
 */
import { CHROME_USB_MESSAGES as M, domException } from '../dom-exception.ts';
import { runSoon } from '../platform.ts';

/** Which OS behaviour `setHeldByOtherProgram` imitates (ccid.md §1). */
export type HeldBy =
  /** pcscd holds the interface: open() works, claimInterface() fails (NetworkError). */
  | 'linux'
  /** The OS CCID driver owns the device: claimInterface() fails (NetworkError). */
  | 'macos'
  /** usbccid is bound instead of WinUSB: open() fails (SecurityError "Access denied."). */
  | 'windows';

/** Callbacks waiting for something to arrive; `wakeAll` calls each once. */
export class Waiters {
  #waiting: (() => void)[] = [];
  add(wake: () => void): void {
    this.#waiting.push(wake);
  }
  wakeAll(): void {
    const w = this.#waiting;
    this.#waiting = [];
    for (let i = 0; i < w.length; i++) w[i]!();
  }
}

export class UsbDeviceState {
  isGone = false;
  isOpened = false;
  isConfigured = true;
  isClaimed = false;
  isForgotten = false;
  haltedIn = false;
  haltedOut = false;
  heldBy: HeldBy | null = null;
  readonly #rejecters = new Set<(e: Error) => void>();

  assertUsable(): void {
    if (this.isGone) throw domException('NotFoundError', M.deviceDisconnected);
  }

  assertOpen(): void {
    this.assertUsable();
    if (!this.isOpened) throw domException('InvalidStateError', M.openRequired);
  }

  assertConfigured(): void {
    this.assertOpen();
    if (!this.isConfigured) throw domException('InvalidStateError', M.configurationRequired);
  }

  assertInterface(interfaceNumber: number): void {
    this.assertConfigured();
    if (interfaceNumber !== 0) throw domException('NotFoundError', M.interfaceNotFound);
  }

  assertClaimed(): void {
    if (!this.isClaimed) throw domException('InvalidStateError', M.interfaceNotClaimed);
  }

  /** Rejects every pending transfer and wait with `error()`. */
  rejectPending(error: () => Error): void {
    for (const reject of [...this.#rejecters]) reject(error());
    this.#rejecters.clear();
  }

  /** Waits until `waiters` wake it; rejects on unplug/close. */
  wait(waiters: Waiters): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#rejecters.add(reject);
      waiters.add(() => {
        this.#rejecters.delete(reject);
        resolve();
      });
    });
  }

  /**
   * Runs `fn` asynchronously. Transfers (`isTransfer`) also reject when the device goes away or is
   * closed meanwhile, like Chrome's pending requests.
   */
  run<T>(fn: () => T | Promise<T>, isTransfer = false): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      // The promise's own reject is what unplug/close call (no wrapper per call).
      if (isTransfer) this.#rejecters.add(reject);
      runSoon(() => {
        Promise.resolve()
          .then(fn)
          .then(
            (v) => {
              this.#rejecters.delete(reject);
              resolve(v);
            },
            (e: unknown) => {
              this.#rejecters.delete(reject);
              reject(e instanceof Error ? e : new Error(String(e)));
            },
          );
      });
    });
  }
}
