/**
 * Every reader dump in $CCID_READER_DUMPS (default ../shared/data/ccid-readers next to the repo):
 * rebuild each interface's 54-byte CCID class descriptor from the dump's numbers, wrap it in a
 * configuration descriptor (the CCID descriptor before the endpoints, and again after them), feed it
 * to the driver through a USBDevice that answers GET_DESCRIPTOR, and check the driver's view against
 * the values the dump text states.
 */
import { readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { encodeCcidClassDescriptor, parseCcidClassDescriptor } from '../src/core/index.ts';
import type { CcidClassDescriptor } from '../src/core/index.ts';
import { inspectDevice } from '../src/webusb/index.ts';
import { descriptorDevice } from './descriptor-device.ts';
import type { DumpInterface } from './reader-dump.ts';
import { parseDumpFile, statedExchangeLevel } from './reader-dump.ts';

const here = dirname(fileURLToPath(import.meta.url));
const dumpDir =
  process.env['CCID_READER_DUMPS'] ?? resolve(here, '../../../../shared/data/ccid-readers');
const files = readdirSync(dumpDir)
  .filter((f) => f.endsWith('.txt') && f !== 'supported_readers.txt')
  .sort();

function descriptorOf(d: DumpInterface): Uint8Array {
  const f = d.fields as unknown as CcidClassDescriptor;
  return encodeCcidClassDescriptor({ ...f, bDescriptorType: d.fields['bDescriptorType']! });
}

function endpointsOf(d: DumpInterface, base: number): Uint8Array[] {
  const ep = (addr: number, attr: number, size: number): Uint8Array =>
    Uint8Array.of(7, 5, addr, attr, size & 0xff, size >> 8, attr === 3 ? 16 : 0);
  const n = d.numEndpoints;
  if (n >= 3) return [ep(0x81 + base, 2, 64), ep(0x02 + base, 2, 64), ep(0x83 + base, 3, 8)];
  if (n === 2) return [ep(0x81 + base, 2, 64), ep(0x02 + base, 2, 64)];
  if (n === 1) return [ep(0x83 + base, 3, 8)];
  return [];
}

/** Configuration descriptor: config header, a HID interface (type 0x21, 9 bytes: must be ignored), then the CCID interfaces. */
function configurationOf(ifaces: DumpInterface[], isAfterEndpoints: boolean): Uint8Array {
  const parts: Uint8Array[] = [];
  const hidIf = 0xf0;
  parts.push(
    Uint8Array.of(9, 4, hidIf, 0, 1, 0x03, 0, 0, 0),
    Uint8Array.of(9, 0x21, 0x11, 0x01, 0, 1, 0x22, 0x20, 0),
    Uint8Array.of(7, 5, 0x8f, 3, 8, 0, 10),
  );
  ifaces.forEach((d, i) => {
    parts.push(
      Uint8Array.of(
        9,
        4,
        d.interfaceNumber,
        0,
        d.numEndpoints,
        d.interfaceClass,
        d.interfaceSubClass,
        d.interfaceProtocol,
        0,
      ),
    );
    const eps = endpointsOf(d, (i * 3) % 12);
    if (!isAfterEndpoints) parts.push(descriptorOf(d));
    parts.push(...eps);
    if (isAfterEndpoints) parts.push(descriptorOf(d));
  });
  const body = parts.reduce((n, p) => n + p.length, 0);
  const total = 9 + body;
  const out = new Uint8Array(total);
  out.set([9, 2, total & 0xff, total >> 8, ifaces.length + 1, 1, 0, 0x80, 50]);
  let o = 9;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

describe(`reader dumps in ${dumpDir}`, () => {
  it('finds dumps', () => {
    expect(files.length).toBeGreaterThan(0);
  });

  for (const file of files) {
    it(file, async () => {
      const ifaces = parseDumpFile(join(dumpDir, file), file);
      expect(ifaces.length, 'interface blocks').toBeGreaterThan(0);
      // Multi-interface files sometimes repeat the same bInterfaceNumber (several dumps of one device): check them one by one.
      const groups: DumpInterface[][] = [];
      for (const d of ifaces) {
        const g = groups.find((x) => !x.some((y) => y.interfaceNumber === d.interfaceNumber));
        if (g) g.push(d);
        else groups.push([d]);
      }
      for (const group of groups) {
        for (const isAfter of [false, true]) {
          const d0 = group[0]!;
          const device = descriptorDevice(configurationOf(group, isAfter), {
            vendorId: d0.vendorId,
            productId: d0.productId,
            productName: d0.file,
            manufacturerName: 'dump',
          });
          const info = await inspectDevice(device);
          for (const setup of device.controlRequests) {
            // GET_DESCRIPTOR(configuration) only.
            expect(setup).toMatchObject({
              requestType: 'standard',
              recipient: 'device',
              request: 6,
              value: 0x0200,
              index: 0,
            });
          }
          expect(info.interfaces.map((i) => i.interfaceNumber)).toEqual(
            group.map((d) => d.interfaceNumber),
          );
          group.forEach((d, i) => {
            const view = info.interfaces[i]!;
            const where = `${file} block ${d.index} (${isAfter ? 'after' : 'before'} endpoints)`;
            // Binary round trip: our parser reads back every field the dump gives.
            const parsed = parseCcidClassDescriptor(descriptorOf(d));
            for (const [k, v] of Object.entries(d.fields))
              expect(parsed[k as keyof CcidClassDescriptor], `${where} ${k}`).toBe(v);
            // The driver's view vs the dump's stated values.
            expect(view.interfaceClass, where).toBe(d.interfaceClass);
            expect([0x0b, 0xff]).toContain(view.interfaceClass);
            // Level: the dump's dwFeatures value is the source of truth (dump README); the decoded
            // "XX.... … level exchange" lines only settle a value with several level bits.
            const mask = d.fields['dwFeatures']! & 0x00070000;
            const levelByValue = (
              {
                0: 'character',
                0x10000: 'tpdu',
                0x20000: 'short-apdu',
                0x40000: 'extended-apdu',
              } as Record<number, string>
            )[mask];
            expect(view.exchangeLevel, `${where} level`).toBe(
              levelByValue ?? statedExchangeLevel(d.decoded['dwFeatures'] ?? []),
            );
            // Protocols: the dwProtocols bits, and the decoded "T=0"/"T=1" lines the tool prints per bit.
            const protoLines = d.decoded['dwProtocols'] ?? [];
            const p = d.fields['dwProtocols']!;
            expect(view.protocols, `${where} protocols`).toEqual({
              t0: (p & 1) !== 0,
              t1: (p & 2) !== 0,
            });
            if (protoLines.some((l) => /^T=\d/.test(l))) {
              expect(view.protocols, `${where} protocol lines`).toEqual({
                t0: protoLines.includes('T=0'),
                t1: protoLines.includes('T=1'),
              });
            }
            expect(view.features, `${where} features`).toBe(d.fields['dwFeatures']);
            expect(view.maxMessageLength, `${where} max message`).toBe(
              d.fields['dwMaxCCIDMessageLength'],
            );
            expect(view.maxIfsd, `${where} max IFSD`).toBe(d.fields['dwMaxIFSD']);
            expect(view.ifsd).toBe(
              d.fields['dwMaxIFSD'] === 0 || d.fields['dwMaxIFSD']! > 254
                ? 254
                : d.fields['dwMaxIFSD'],
            );
            expect(view.slotCount, `${where} slots`).toBe(d.fields['bMaxSlotIndex']! + 1);
            const hasInterrupt = d.endpointText
              ? /Interrupt-IN/.test(d.endpointText)
              : d.numEndpoints >= 3;
            expect(view.hasInterruptEndpoint, `${where} interrupt`).toBe(hasInterrupt);
            expect(view.isIccdControl).toBe(
              d.interfaceClass === 0x0b && (d.interfaceProtocol === 1 || d.interfaceProtocol === 2),
            );
          });
        }
      }
    });
  }
});
