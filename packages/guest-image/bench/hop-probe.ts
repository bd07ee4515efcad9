/**
 * Preloaded into the relay process by the chain bench (`node --import … hop-probe.ts`) when it
 * is asked for per-hop timings: notes, on the relay's clock (epoch ms), when each whole VSCard
 * APDU message arrives from QEMU, when bytes are written to and read from the browser's
 * socket, when a guest-command answer is written to QEMU, and every GC pause. Nothing in the
 * relay's code changes; the hooks sit on `net.Socket` and cost a few array stores per event.
 * The log is written to `CARDLEND_PROBE_OUT` as JSON when the process exits.
 *
 * Env: CARDLEND_PROBE_OUT (file), CARDLEND_PROBE_TARGET_PORT (QEMU's port),
 * CARDLEND_PROBE_LISTEN_PORT (the relay's WebSocket port).
 */
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { PerformanceObserver } from 'node:perf_hooks';
import { HOP, type ProbeLog } from './hop-kinds.ts';

const outFile = process.env['CARDLEND_PROBE_OUT'];
const targetPort = Number(process.env['CARDLEND_PROBE_TARGET_PORT']);
const listenPort = Number(process.env['CARDLEND_PROBE_LISTEN_PORT']);
const MAX = 400_000;
const at = new Float64Array(MAX);
const kinds = new Uint8Array(MAX);
let n = 0;
const gc: [number, number, number][] = [];
const origin = performance.timeOrigin;

function note(kind: number): void {
  if (n < MAX) {
    at[n] = origin + performance.now();
    kinds[n++] = kind;
  }
}

/** The QEMU stream's framing state (12-byte header: type, reader id, length; big-endian). */
const vm = { headerSeen: 0, type: 0, length: 0, payloadLeft: 0 };

function scanFromVm(chunk: Buffer): void {
  let i = 0;
  while (i < chunk.length) {
    if (vm.headerSeen < 12) {
      const b = chunk[i++] as number;
      if (vm.headerSeen < 4) vm.type = ((vm.type << 8) | b) >>> 0;
      else if (vm.headerSeen >= 8) vm.length = ((vm.length << 8) | b) >>> 0;
      vm.headerSeen++;
      if (vm.headerSeen === 12) vm.payloadLeft = vm.length;
    } else {
      const take = Math.min(vm.payloadLeft, chunk.length - i);
      vm.payloadLeft -= take;
      i += take;
    }
    if (vm.headerSeen === 12 && vm.payloadLeft === 0) {
      if (vm.type === 7) note(HOP.vmApduIn);
      vm.headerSeen = 0;
      vm.type = 0;
      vm.length = 0;
    }
  }
}

const isVm = (s: net.Socket): boolean => s.remotePort === targetPort;
const isBrowser = (s: net.Socket): boolean => s.localPort === listenPort;

const emit = net.Socket.prototype.emit;
net.Socket.prototype.emit = function (
  this: net.Socket,
  event: string | symbol,
  ...args: unknown[]
) {
  if (event === 'data') {
    const chunk = args[0] as Buffer;
    if (isVm(this)) scanFromVm(chunk);
    else if (isBrowser(this)) note(HOP.browserIn);
  }
  return (emit as (...a: unknown[]) => boolean).call(this, event, ...args);
} as typeof emit;

const write = net.Socket.prototype.write;
net.Socket.prototype.write = function (this: net.Socket, ...args: unknown[]) {
  const data = args[0];
  if (data instanceof Uint8Array && isVm(this)) {
    if (data.length >= 12 && data[3] === 7 && data[0] === 0) note(HOP.vmApduOut);
  } else if (isBrowser(this)) {
    note(HOP.browserOut);
  }
  return (write as (...a: unknown[]) => boolean).apply(this, args);
} as typeof write;

new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gc.push([origin + e.startTime, e.duration, 0]);
}).observe({ entryTypes: ['gc'] });

process.on('exit', () => {
  if (outFile === undefined) return;
  const log: ProbeLog = {
    at: Array.from(at.subarray(0, n)),
    kinds: Array.from(kinds.subarray(0, n)),
    gc,
  };
  writeFileSync(outFile, JSON.stringify(log));
});
