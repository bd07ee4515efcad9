/**
 * Detects a VM whose VSCard chardev lacks `nodelay=on` (issue 11 §4), from the relay's side of
 * QEMU's TCP stream alone.
 *
 * QEMU writes each message's 12-byte header and its payload with two separate `write` calls
 * (vscard-protocol.md §2.1). Without `TCP_NODELAY` on QEMU's socket, Nagle's algorithm sends the
 * header at once but holds the payload until the header is acknowledged; the receiver (the
 * relay) delays that ACK (Linux: 40 ms at least), so every message with a payload — every guest
 * command — reaches the relay about 40 ms late: a header chunk, then ~40 ms of silence, then
 * the payload. With `nodelay=on` the payload follows within microseconds (or in the same
 * chunk). This detector watches exactly that: for each message with a payload, the time from
 * the chunk that completed its header to the chunk that brought its first payload byte.
 *
 * Pure: chunks and their arrival times in (`nowMs`, any monotonic ms clock), findings out. It
 * reads only header length words (its own 12-byte tracker, no buffering of payloads), so it
 * never fails on any byte stream; lengths are not checked (the relay's framer does that).
 */
import { VSCARD_HEADER_BYTES } from './constants.ts';

/** Options of {@link NagleDetector}. */
export interface NagleDetectorOptions {
  /** A header→payload gap at least this long counts as a stall, ms (default 25). */
  minStallMs?: number;
  /** A gap longer than this is something else (QEMU paused, host swapping), ms (default 500). */
  maxStallMs?: number;
  /** How many of the latest messages with a payload are judged, default 16. */
  windowMessages?: number;
  /** Stalls needed in the window before the pattern is reported, default 3. */
  minStalls?: number;
  /** Share of stalled messages in the window needed, 0…1 (default 0.5). */
  minStallShare?: number;
}

/** What the detector knows so far. */
export interface NagleReport {
  /** The pattern holds now: enough of the latest messages stalled. */
  suspected: boolean;
  /** Messages with a payload seen since the start. */
  messages: number;
  /** Of them, how many stalled (header, then the payload `minStallMs`…`maxStallMs` later). */
  stalls: number;
  /** Messages with a payload in the judged window, and how many of them stalled. */
  windowMessages: number;
  windowStalls: number;
  /** Share of stalls in the window, 0…1: the confidence of the finding. */
  confidence: number;
  /** Median stall in the window, ms (0 when none): what each guest command costs extra. */
  typicalStallMs: number;
}

/** A change of the verdict, returned by {@link NagleDetector.push} when it happens. */
export type NagleFinding =
  { kind: 'nagle-suspected'; report: NagleReport } | { kind: 'nagle-cleared'; report: NagleReport };

/** Header→payload stall watcher of one VM connection; see the file comment. */
export class NagleDetector {
  readonly #minStallMs: number;
  readonly #maxStallMs: number;
  readonly #minStalls: number;
  readonly #minShare: number;
  /** Size of the ring of judged messages. */
  readonly #windowSize: number;
  /**
   * Ring of the latest judged messages: the stall in ms, or -1 for "no stall". Made on the first
   * stall (until then every judged entry is "no stall"): most VMs never stall, and a relay holds
   * many idle sessions.
   */
  #window: Float64Array | null = null;
  #windowFill = 0;
  #windowNext = 0;
  #messages = 0;
  #stalls = 0;
  #suspected = false;
  /** Header bytes seen of the message being read (0…12). */
  #headerFill = 0;
  /** Its length word, accumulated byte by byte. */
  #length = 0;
  /** Payload bytes still to come of the current message. */
  #payloadLeft = 0;
  /** Time the current message's header was completed, or NaN once its payload started. */
  #headerAtMs = Number.NaN;

  constructor(opts: NagleDetectorOptions = {}) {
    const minStallMs = opts.minStallMs ?? 25;
    const maxStallMs = opts.maxStallMs ?? 500;
    const windowMessages = opts.windowMessages ?? 16;
    const minStalls = opts.minStalls ?? 3;
    const minShare = opts.minStallShare ?? 0.5;
    if (!(minStallMs > 0 && maxStallMs > minStallMs && Number.isFinite(maxStallMs))) {
      throw new RangeError('need 0 < minStallMs < maxStallMs < ∞');
    }
    if (!Number.isInteger(windowMessages) || windowMessages < 1 || windowMessages > 4096) {
      throw new RangeError('windowMessages must be an integer in 1…4096');
    }
    if (!Number.isInteger(minStalls) || minStalls < 1 || minStalls > windowMessages) {
      throw new RangeError('minStalls must be an integer in 1…windowMessages');
    }
    if (!(minShare > 0 && minShare <= 1)) throw new RangeError('minStallShare must be in (0, 1]');
    this.#minStallMs = minStallMs;
    this.#maxStallMs = maxStallMs;
    this.#minStalls = minStalls;
    this.#minShare = minShare;
    this.#windowSize = windowMessages;
  }

  /** Whether the pattern holds now. */
  get suspected(): boolean {
    return this.#suspected;
  }

  /**
   * One chunk as read from QEMU's socket, with the time it was read. Returns a finding when the
   * verdict changes (at most one per chunk, the latest), else null.
   */
  push(chunk: Uint8Array, nowMs: number): NagleFinding | null {
    let i = 0;
    const wasSuspected = this.#suspected;
    while (i < chunk.length) {
      if (this.#payloadLeft > 0) {
        if (!Number.isNaN(this.#headerAtMs)) this.#judge(nowMs - this.#headerAtMs);
        const take = Math.min(this.#payloadLeft, chunk.length - i);
        this.#payloadLeft -= take;
        i += take;
        continue;
      }
      const byte = chunk[i++] ?? 0;
      if (this.#headerFill >= 8) this.#length = this.#length * 256 + byte;
      this.#headerFill++;
      if (this.#headerFill === VSCARD_HEADER_BYTES) {
        this.#payloadLeft = this.#length;
        this.#headerFill = 0;
        this.#length = 0;
        // Payload bytes in the same chunk: no stall possible (judged as 0 ms below).
        this.#headerAtMs = this.#payloadLeft > 0 ? nowMs : Number.NaN;
      }
    }
    if (this.#suspected === wasSuspected) return null;
    const report = this.report();
    return this.#suspected
      ? { kind: 'nagle-suspected', report }
      : { kind: 'nagle-cleared', report };
  }

  /** The counts and the verdict now (for logs and metrics). */
  report(): NagleReport {
    const stalled: number[] = [];
    const window = this.#window;
    for (let k = 0; window !== null && k < this.#windowFill; k++) {
      const ms = window[k] ?? -1;
      if (ms >= 0) stalled.push(ms);
    }
    stalled.sort((a, b) => a - b);
    const typical =
      stalled.length === 0
        ? 0
        : stalled.length % 2 === 1
          ? (stalled[(stalled.length - 1) / 2] ?? 0)
          : ((stalled[stalled.length / 2 - 1] ?? 0) + (stalled[stalled.length / 2] ?? 0)) / 2;
    return {
      suspected: this.#suspected,
      messages: this.#messages,
      stalls: this.#stalls,
      windowMessages: this.#windowFill,
      windowStalls: stalled.length,
      confidence: this.#windowFill === 0 ? 0 : stalled.length / this.#windowFill,
      typicalStallMs: Math.round(typical * 10) / 10,
    };
  }

  /** Judges the current message once its first payload byte is seen `gapMs` after its header. */
  #judge(gapMs: number): void {
    this.#headerAtMs = Number.NaN;
    const isStall = gapMs >= this.#minStallMs && gapMs <= this.#maxStallMs;
    this.#messages++;
    if (isStall) this.#stalls++;
    let window = this.#window;
    if (window === null && isStall)
      window = this.#window = new Float64Array(this.#windowSize).fill(-1);
    if (window !== null) window[this.#windowNext] = isStall ? gapMs : -1;
    this.#windowNext = (this.#windowNext + 1) % this.#windowSize;
    if (this.#windowFill < this.#windowSize) this.#windowFill++;
    let windowStalls = 0;
    for (let k = 0; window !== null && k < this.#windowFill; k++)
      if ((window[k] ?? -1) >= 0) windowStalls++;
    this.#suspected =
      windowStalls >= this.#minStalls && windowStalls / this.#windowFill >= this.#minShare;
  }
}

/**
 * The sentence for logs and the page: "this VM's smart-card channel adds N ms per command: …",
 * with the remedy. `report.suspected` should be true.
 */
export function describeNagleReport(report: NagleReport): string {
  const ms = Math.round(report.typicalStallMs);
  return (
    `This VM's smart-card channel adds about ${ms} ms per command: QEMU's VSCard chardev runs ` +
    `without nodelay=on (${report.windowStalls} of the last ${report.windowMessages} messages ` +
    `waited for a delayed TCP ACK). Add nodelay=on to the -chardev, or see the relay README ` +
    `("VMs without nodelay=on") for libvirt.`
  );
}
