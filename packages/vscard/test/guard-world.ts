/**
 * A relayed session in miniature for property tests: browser → guard → QEMU's socket → QEMU
 * model (random read boundaries) → QEMU's replies and guest commands → guard → browser.
 * Every step is explicit; nothing is timed.
 */
import {
  ForwardGuard,
  QemuPassthruModel,
  validateClientFrame,
  type ForwardGuardOptions,
  type ToVmDecision,
} from '../src/index.ts';

/** A message QEMU wrote towards the relay. */
export interface FromQemu {
  type: number;
  bytes: Uint8Array;
}

/** Bytes written to QEMU's socket and not read yet. */
class ByteQueue {
  #chunks: Uint8Array[] = [];
  #head = 0;
  length = 0;

  push(b: Uint8Array): void {
    if (b.length === 0) return;
    this.#chunks.push(b);
    this.length += b.length;
  }

  take(n: number): Uint8Array {
    const out = new Uint8Array(n);
    let o = 0;
    while (o < n) {
      const c = this.#chunks[0] as Uint8Array;
      const k = Math.min(n - o, c.length - this.#head);
      out.set(c.subarray(this.#head, this.#head + k), o);
      o += k;
      this.#head += k;
      if (this.#head === c.length) {
        this.#chunks.shift();
        this.#head = 0;
      }
    }
    this.length -= n;
    return out;
  }
}

export class GuardWorld {
  readonly qemu = new QemuPassthruModel();
  /** `undefined`: no guard, only `validateClientFrame` (the relay before issue 11). */
  readonly guard: ForwardGuard | undefined;
  readonly socket = new ByteQueue();
  readonly toRelay: FromQemu[] = [];
  /** Messages the guard let through to the browser. */
  readonly toBrowser: FromQemu[] = [];
  refusals = 0;
  /** Refusals per rule. */
  readonly refusedBy = new Map<string, number>();
  /** Largest unproven byte count the guard reached. */
  maxUnproven = 0;
  forwarded = 0;
  probes = 0;
  guestAnswers = 0;

  constructor(guard: ForwardGuardOptions | 'none' = {}) {
    this.guard = guard === 'none' ? undefined : new ForwardGuard(guard);
  }

  /** The browser (or the relay, `origin`) asks to write one message to QEMU. */
  send(bytes: Uint8Array, origin: 'browser' | 'relay' = 'browser'): ToVmDecision {
    let d: ToVmDecision;
    if (this.guard) {
      d = this.guard.toVm(bytes, origin);
    } else {
      try {
        validateClientFrame(bytes);
        d = { action: 'forward' };
      } catch {
        d = { action: 'refuse', closeCode: 4000, reason: 'bad frame', rule: 'bad-frame' };
      }
    }
    if (d.action === 'refuse') {
      // A WebSocket close reason carries at most 123 bytes.
      if (new TextEncoder().encode(d.reason).length > 123)
        throw new Error(`long reason: ${d.reason}`);
      this.refusals++;
      this.refusedBy.set(d.rule, (this.refusedBy.get(d.rule) ?? 0) + 1);
      return d;
    }
    this.forwarded++;
    this.socket.push(bytes);
    if (d.probe) this.#probe(d.probe);
    this.maxUnproven = Math.max(this.maxUnproven, this.guard?.unprovenBytes ?? 0);
    return d;
  }

  /** QEMU reads up to `size` bytes (never more than it can); returns false if it cannot read. */
  read(size: number): boolean {
    const n = Math.min(size, this.qemu.input.maxReadBytes, this.socket.length);
    if (n <= 0) return false;
    for (const e of this.qemu.read(this.socket.take(n))) {
      if (e.kind === 'reply') this.toRelay.push({ type: typeOf(e.bytes), bytes: e.bytes });
      else if (e.kind === 'guest-answer') this.guestAnswers++;
    }
    return true;
  }

  /** The guest sends a command (at most 127 waiting, so QEMU never aborts). */
  guestCommand(length: number): void {
    if (this.qemu.pendingGuestCommands.length >= 127) return;
    const r = this.qemu.guestCommand(new Uint8Array(length).fill(0xa5));
    if (r.kind === 'forwarded') this.toRelay.push({ type: typeOf(r.bytes), bytes: r.bytes });
  }

  /** The relay handles QEMU's next message; returns it, or undefined if none is waiting. */
  deliver(): FromQemu | undefined {
    const m = this.toRelay.shift();
    if (!m) return undefined;
    const d = this.guard?.fromVm(m) ?? { action: 'forward' as const };
    if (d.action === 'forward') this.toBrowser.push(m);
    if (d.probe) this.#probe(d.probe);
    return m;
  }

  /** Bytes QEMU holds plus bytes waiting in its socket. */
  get bytesTowardsQemu(): number {
    return this.qemu.input.registers.pos + this.socket.length;
  }

  /** Deliver and read everything (max-size reads); no guest activity. */
  drain(): void {
    for (let i = 0; i < 100_000; i++) {
      const isRead = this.read(4096);
      const isDelivered = this.deliver() !== undefined;
      if (!isRead && !isDelivered) return;
    }
    throw new Error('drain did not settle');
  }

  #probe(bytes: Uint8Array): void {
    this.probes++;
    this.socket.push(bytes);
  }
}

function typeOf(bytes: Uint8Array): number {
  return new DataView(bytes.buffer, bytes.byteOffset).getUint32(0);
}
