/**
 * A session's frame policy (session/frame-policy.ts) bound to its state and to the VM side:
 * the verdicts for each direction, and the writes a verdict asks for — a probe after a frame,
 * the relay's own messages (VmLink.relayWriter) — with each control message among them counted
 * as awaiting QEMU's reply. Made only when the session has a policy.
 */
import type { FramePolicy, FrameVerdict, PolicyNotice, RelayFrame } from './frame-policy.ts';
import { expectsReply, type RelayWriter, type VmLink } from './vm-link.ts';

export class PolicyGate implements RelayWriter {
  readonly #policy: FramePolicy;
  readonly #state: unknown;
  readonly #vm: VmLink;

  constructor(policy: FramePolicy, protocol: string, vm: VmLink) {
    this.#policy = policy;
    this.#state = policy.init({ protocol });
    this.#vm = vm;
    if (policy.fromRelay) vm.relayWriter = this;
  }

  /** Browser → VM verdict; undefined when the policy does not look at this direction. */
  toVm(frame: RelayFrame): FrameVerdict | undefined {
    return this.#policy.toVm?.(frame, this.#state);
  }

  /** VM → browser verdict; undefined when the policy does not look at this direction. */
  toBrowser(frame: RelayFrame): FrameVerdict | undefined {
    return this.#policy.toBrowser?.(frame, this.#state);
  }

  /** A chunk as read from QEMU, with the session clock. */
  vmChunk(chunk: Uint8Array, nowMs: number): PolicyNotice | undefined {
    return this.#policy.vmChunk?.(chunk, nowMs, this.#state);
  }

  /** A reconnect with the resume ticket took the session over. */
  resume(): void {
    this.#policy.resume?.(this.#state);
  }

  /**
   * Whole messages the policy asked for (a probe, a served answer), right after what was
   * written; each control message among them is counted as awaiting its reply.
   */
  writeProbe(probe: Uint8Array): boolean {
    const tcp = this.#vm.tcp;
    if (tcp.destroyed || !tcp.writable) return true;
    const view = new DataView(probe.buffer, probe.byteOffset, probe.byteLength);
    for (let at = 0; at + 12 <= probe.length; at += 12 + view.getUint32(at + 8)) {
      if (expectsReply(view.getUint32(at))) this.#vm.pendingReplies++;
    }
    return tcp.write(probe);
  }

  /** The relay's own messages (cleanup, answers while parked), through the policy. */
  writeFromRelay(bytes: Uint8Array): boolean {
    const verdict = this.#policy.fromRelay?.(
      { type: new DataView(bytes.buffer, bytes.byteOffset).getUint32(0), bytes },
      this.#state,
    );
    if (verdict && verdict.action !== 'forward') return false;
    this.#vm.tcp.write(bytes);
    if (verdict?.probe) this.writeProbe(verdict.probe);
    return true;
  }
}
