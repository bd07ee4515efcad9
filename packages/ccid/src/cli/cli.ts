import type { CcidInterfaceInfo } from '../core/index.ts';
import { CCID_ERROR_CATALOG, fromHex, isCcidError, toHex } from '../core/index.ts';
import { inspectDevice, openReader } from '../webusb/index.ts';

/** Where the CLI gets devices and writes text; the Node entry wires node-usb's WebUSB, tests wire card-sim. */
export interface CliIo {
  getDevices: () => Promise<USBDevice[]>;
  stdout: (line: string) => void;
  stderr: (line: string) => void;
}

const USAGE = `usage: ccid <command> [--reader N] [--interface N] [--slot N] [--timeout MS]
  list                 list CCID readers and their interfaces
  atr                  power the card on, print ATR and protocol
  apdu <hex> [<hex>…]  power the card on, send each APDU, print the responses`;

function describe(i: CcidInterfaceInfo): string {
  const protocols =
    [i.protocols.t0 ? 'T=0' : '', i.protocols.t1 ? 'T=1' : ''].filter(Boolean).join('+') || 'none';
  return `  interface ${i.interfaceNumber}: class 0x${i.interfaceClass.toString(16).padStart(2, '0')}, ${i.exchangeLevel}, ${protocols}, dwFeatures 0x${i.features.toString(16).padStart(8, '0')}, max message ${i.maxMessageLength} bytes, max IFSD ${i.maxIfsd}, ${i.slotCount} slot(s)${i.hasInterruptEndpoint ? '' : ', no interrupt endpoint'}`;
}

interface CliOptions {
  command: string | undefined;
  rest: string[];
  readerIndex: number;
  interfaceNumber: number;
  slot: number;
  timeoutMs: number;
}

interface FoundReader {
  device: USBDevice;
  interfaces: CcidInterfaceInfo[];
}

/** Splits argv into the command, its operands and the numeric options; throws RangeError on a bad value. */
function parseOptions(argv: readonly string[]): CliOptions {
  const args = [...argv];
  const opt = (name: string, def: number): number => {
    const i = args.indexOf(name);
    if (i < 0) return def;
    const v = Number(args[i + 1]);
    args.splice(i, 2);
    if (!Number.isInteger(v) || v < 0) throw new RangeError(`${name} needs a non-negative integer`);
    return v;
  };
  const readerIndex = opt('--reader', 0);
  const interfaceNumber = opt('--interface', -1);
  const slot = opt('--slot', 0);
  const timeoutMs = opt('--timeout', 10000);
  const [command, ...rest] = args;
  return { command, rest, readerIndex, interfaceNumber, slot, timeoutMs };
}

/** Devices with at least one CCID interface; unreadable ones (held by another driver, gone) are skipped. */
async function findReaders(io: CliIo): Promise<FoundReader[]> {
  const readers: FoundReader[] = [];
  for (const device of await io.getDevices()) {
    try {
      const info = await inspectDevice(device);
      if (info.interfaces.length) readers.push({ device, interfaces: info.interfaces });
    } catch {
      // not readable: not listed
    }
  }
  return readers;
}

function list(io: CliIo, readers: FoundReader[]): void {
  if (!readers.length) io.stdout('no CCID reader found');
  readers.forEach((r, n) => {
    io.stdout(
      `[${n}] ${hex4(r.device.vendorId)}:${hex4(r.device.productId)} ${r.device.manufacturerName ?? ''} ${r.device.productName ?? ''}`.trimEnd(),
    );
    for (const i of r.interfaces) io.stdout(describe(i));
  });
}

/** Powers the card on, prints ATR and protocol, sends each APDU and prints its response. */
async function talk(
  io: CliIo,
  device: USBDevice,
  o: CliOptions,
  apdus: Uint8Array[],
): Promise<void> {
  const reader = await openReader(device, {
    isBrowserBlockingProtectedClasses: false,
    timeoutMs: o.timeoutMs,
    ...(o.interfaceNumber >= 0 ? { interfaceNumber: o.interfaceNumber } : {}),
  });
  try {
    const p = await reader.powerOn(o.slot);
    io.stdout(`ATR ${toHex(p.atr)}`);
    io.stdout(`protocol T=${p.protocol}`);
    for (const a of apdus) {
      io.stdout(`> ${toHex(a)}`);
      io.stdout(`< ${toHex(await reader.transmit(a, { slot: o.slot }))}`);
    }
  } finally {
    await reader.close();
  }
}

/** Prints a failure; returns the exit code (2 usage, 1 otherwise). */
function fail(io: CliIo, e: unknown): number {
  if (e instanceof RangeError) {
    io.stderr(e.message);
    return 2;
  }
  if (isCcidError(e)) {
    io.stderr(`${e.code}: ${e.message}`);
    io.stderr(CCID_ERROR_CATALOG[e.code].action);
    return 1;
  }
  io.stderr(String(e));
  return 1;
}

/**
 * The `ccid` command line: list readers, print a card's ATR, send APDUs. Runs over any WebUSB
 * implementation (node-usb in Node, where Chrome's protected-class block does not apply).
 * Returns the process exit code (0 ok, 1 failure, 2 usage).
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let o: CliOptions;
  try {
    o = parseOptions(argv);
  } catch (e) {
    io.stderr((e as Error).message);
    io.stderr(USAGE);
    return 2;
  }
  try {
    const readers = await findReaders(io);
    if (o.command === 'list') {
      list(io, readers);
      return 0;
    }
    const apdus = o.command === 'apdu' ? o.rest.map((h) => fromHex(h)) : [];
    if ((o.command !== 'atr' && o.command !== 'apdu') || (o.command === 'apdu' && !apdus.length)) {
      io.stderr(USAGE);
      return 2;
    }
    const chosen = readers[o.readerIndex];
    if (!chosen) {
      io.stderr(`no reader [${o.readerIndex}] (found ${readers.length})`);
      return 1;
    }
    await talk(io, chosen.device, o, apdus);
    return 0;
  } catch (e) {
    return fail(io, e);
  }
}

function hex4(n: number): string {
  return n.toString(16).padStart(4, '0');
}
