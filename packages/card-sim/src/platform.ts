/**
 * The two scheduling primitives the simulator uses, present in browsers and Node alike. Typed here
 * because the package compiles without DOM or Node type libraries.
 */
const g = globalThis as unknown as {
  setTimeout(fn: () => void, ms: number): unknown;
  queueMicrotask(fn: () => void): void;
};

/** An already resolved promise: awaiting it is the same as awaiting a fresh one. */
const RESOLVED: Promise<void> = Promise.resolve();

/** Resolves after `ms` milliseconds (0 = after the current microtasks). */
export function sleep(ms: number): Promise<void> {
  return ms > 0 ? new Promise((resolve) => g.setTimeout(resolve, ms)) : RESOLVED;
}

/**
 * Runs the simulator's own `fn` on the microtask queue, where queueMicrotask would put it, as a
 * reaction to a settled promise: a browser wraps each queueMicrotask callback for its bindings,
 * and the simulated reader schedules several per APDU. A throw in `fn` is an unhandled
 * rejection; callbacks of the page's listeners go through {@link dispatchSoon}.
 */
export function runSoon(fn: () => void): void {
  void RESOLVED.then(fn);
}

/** Runs a listener call on the microtask queue; a throw in it is reported as an uncaught error. */
export function dispatchSoon(fn: () => void): void {
  g.queueMicrotask(fn);
}

/** ASCII text to bytes (no TextEncoder in the ES lib). */
export function ascii(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i) & 0x7f;
  return out;
}
