/** What the relay's hop probe (hop-probe.ts) records, shared with the analysis (hop-analysis.ts). */

/** Event kinds in the probe's log. */
export const HOP = {
  /** A whole VSCard APDU message (a guest command) arrived from QEMU. */
  vmApduIn: 1,
  /** Bytes written to the browser's socket (a WebSocket frame, or part of one). */
  browserOut: 2,
  /** Bytes read from the browser's socket. */
  browserIn: 3,
  /** An APDU message (the guest command's answer) written to QEMU. */
  vmApduOut: 4,
} as const;

/** The probe's log: parallel arrays of epoch-ms times and {@link HOP} kinds, and GC pauses. */
export interface ProbeLog {
  at: number[];
  kinds: number[];
  /** [start epoch ms, duration ms, unused]. */
  gc: [number, number, number][];
}
