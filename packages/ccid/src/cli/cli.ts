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

/**
 * The `ccid` command line: list readers, print a card's ATR, send APDUs. Runs over any WebUSB
 * implementation (node-usb in Node, where Chrome's protected-class block does not apply).
 * Returns the process exit code (0 ok, 1 failure, 2 usage).
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const args = [...argv];
  const opt = (name: string, def: number): number => {
    const i = args.indexOf(name);
    if (i < 0) return def;
    const v = Number(args[i + 1]);
    args.splice(i, 2);
    if (!Number.isInteger(v) || v < 0) throw new RangeError(`${name} needs a non-negative integer`);
    return v;
  };
  let readerIndex: number;
  let interfaceNumber: number;
  let slot: number;
  let timeoutMs: number;
  try {
    readerIndex = opt('--reader', 0);
    interfaceNumber = opt('--interface', -1);
    slot = opt('--slot', 0);
    timeoutMs = opt('--timeout', 10000);
  } catch (e) {
    io.stderr((e as Error).message);
    io.stderr(USAGE);
    return 2;
  }
  const [command, ...rest] = args;
  try {
    const all = await io.getDevices();
    const readers: { device: USBDevice; interfaces: CcidInterfaceInfo[] }[] = [];
    for (const device of all) {
      try {
        const info = await inspectDevice(device);
        if (info.interfaces.length) readers.push({ device, interfaces: info.interfaces });
      } catch {
        // not readable (held by another driver, gone): not listed
      }
    }
    if (command === 'list') {
      if (!readers.length) io.stdout('no CCID reader found');
      readers.forEach((r, n) => {
        io.stdout(
          `[${n}] ${hex4(r.device.vendorId)}:${hex4(r.device.productId)} ${r.device.manufacturerName ?? ''} ${r.device.productName ?? ''}`.trimEnd(),
        );
        for (const i of r.interfaces) io.stdout(describe(i));
      });
      return 0;
    }
    if (command !== 'atr' && command !== 'apdu') {
      io.stderr(USAGE);
      return 2;
    }
    const apdus = command === 'apdu' ? rest.map((h) => fromHex(h)) : [];
    if (command === 'apdu' && apdus.length === 0) {
      io.stderr(USAGE);
      return 2;
    }
    const chosen = readers[readerIndex];
    if (!chosen) {
      io.stderr(`no reader [${readerIndex}] (found ${readers.length})`);
      return 1;
    }
    const reader = await openReader(chosen.device, {
      isBrowserBlockingProtectedClasses: false,
      timeoutMs,
      ...(interfaceNumber >= 0 ? { interfaceNumber } : {}),
    });
    try {
      const p = await reader.powerOn(slot);
      io.stdout(`ATR ${toHex(p.atr)}`);
      io.stdout(`protocol T=${p.protocol}`);
      for (const a of apdus) {
        io.stdout(`> ${toHex(a)}`);
        io.stdout(`< ${toHex(await reader.transmit(a, { slot }))}`);
      }
    } finally {
      await reader.close();
    }
    return 0;
  } catch (e) {
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
}

function hex4(n: number): string {
  return n.toString(16).padStart(4, '0');
}
