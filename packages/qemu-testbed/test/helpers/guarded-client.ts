/**
 * A raw VSCard client that obeys a ForwardGuard the way the relay does: every message it wants
 * to write to QEMU is put to the guard first and written only if forwarded (followed by the
 * guard's probe, if any); every message from QEMU is shown to the guard before the test sees
 * it, and the replies to probes are dropped.
 */
import { ForwardGuard, type ForwardGuardOptions, type ToVmDecision } from '@cardlend/vscard';
import { RawVscardClient, type RawMessage } from '../../src/index.ts';

export class GuardedClient {
  readonly guard: ForwardGuard;
  readonly raw: RawVscardClient;
  probes = 0;

  private constructor(raw: RawVscardClient, guard: ForwardGuard) {
    this.raw = raw;
    this.guard = guard;
  }

  static async connect(port: number, opts: ForwardGuardOptions = {}): Promise<GuardedClient> {
    return new GuardedClient(await RawVscardClient.connect(port), new ForwardGuard(opts));
  }

  /** Asks the guard; writes the message (and a probe) only if it is forwarded. */
  send(bytes: Uint8Array, origin: 'browser' | 'relay' = 'browser'): ToVmDecision {
    const d = this.guard.toVm(bytes, origin);
    if (d.action === 'forward') {
      this.raw.write(bytes);
      if (d.probe) this.#probe(d.probe);
    }
    return d;
  }

  /** The next message QEMU sent that the guard forwards (probe replies are consumed here). */
  async next(timeoutMs = 5000): Promise<RawMessage> {
    for (;;) {
      const m = await this.raw.next(timeoutMs);
      const d = this.guard.fromVm(m);
      if (d.probe) this.#probe(d.probe);
      if (d.action === 'forward') return m;
    }
  }

  #probe(bytes: Uint8Array): void {
    this.probes++;
    this.raw.write(bytes);
  }
}
