/**
 * The page's only contact with the platform: WebUSB (`navigator.usb`), the CCID driver, the
 * bridge and, for "Try a virtual card", the simulator. The virtual reader goes through the
 * very same `openReader` + `CardBridge` path as a real one.
 */
import { CCID_USB_FILTERS, openReader, type CcidReader } from '@cardlend/ccid/webusb';
import { detectOs } from '../errors/explain.ts';
import { DEMO_PROFILES, isDemoProfileId } from '../state/launch-params.ts';
import type { OpenedReader, Platform, VirtualCardControls } from '../state/ports.ts';
import { openedReader } from './opened-reader.ts';

const hex4 = (n: number): string => n.toString(16).padStart(4, '0');

function wrapReader(reader: CcidReader, isVirtual: boolean, label?: string): OpenedReader {
  const { info, interfaceInfo } = reader;
  const name =
    label ??
    (info.productName.trim() !== ''
      ? info.productName.trim()
      : `USB reader ${hex4(info.vendorId)}:${hex4(info.productId)}`);
  return openedReader(reader, {
    name,
    exchangeLevel: interfaceInfo.exchangeLevel,
    interfaceClass: interfaceInfo.interfaceClass,
    vendorId: info.vendorId,
    productId: info.productId,
    isVirtual,
  });
}

/** The platform of a real browser tab. */
export function createBrowserPlatform(): Platform {
  const usb: USB | undefined = typeof navigator === 'undefined' ? undefined : navigator.usb;
  return {
    hasWebUsb: usb !== undefined,
    isSecureContext: typeof window === 'undefined' ? true : window.isSecureContext,
    os: typeof navigator === 'undefined' ? 'other' : detectOs(navigator.userAgent),

    async chooseReader(onDevice) {
      if (usb === undefined) throw new TypeError('WebUSB is not available');
      const device = await usb.requestDevice({ filters: CCID_USB_FILTERS });
      onDevice?.({ vendorId: device.vendorId, productId: device.productId });
      return wrapReader(await openReader(device), false);
    },

    // "Use <reader> again": a device from navigator.usb.getDevices(), no chooser.
    async openKnownReader(device) {
      return wrapReader(await openReader(device), false);
    },

    async openVirtualReader(profileId) {
      const demo = DEMO_PROFILES[isDemoProfileId(profileId) ? profileId : 'vendorClass'];
      // Loaded on first use: the simulator and its demo card's crypto are most of the code,
      // and a person lending a real card never needs them.
      const { createPivDemoCard, readerProfiles, SimulatedReader } =
        await import('@cardlend/card-sim');
      // shortApdu: a class-0x0B reader; vendorClass: the same protocol on a class-0xFF interface.
      const profile = demo.isProtectedClass
        ? readerProfiles['shortApdu']
        : readerProfiles['vendorClass'];
      if (profile === undefined) throw new TypeError('simulator profile missing');
      const sim = new SimulatedReader({ profile, emulateChrome: true });
      if (demo.isHeld) sim.setHeldByOtherProgram(true);
      // T=1 only, like most PIV tokens: the VM then gets the T=0 compatibility ATR, and long
      // commands (a 256-byte GENERAL AUTHENTICATE) are chained in T=1 blocks. Over T=0 at TPDU
      // level the SCR331-DI's 263-byte message limit cannot carry a 260-byte command TPDU.
      const card = await createPivDemoCard({ protocols: [1] });
      sim.insertCard(card);
      let isInserted = true;
      const controls: VirtualCardControls = {
        get isInserted() {
          return isInserted;
        },
        insert() {
          sim.insertCard(card);
          isInserted = true;
        },
        remove() {
          sim.removeCard();
          isInserted = false;
        },
      };
      const reader = await openReader(sim.device);
      return { reader: wrapReader(reader, true, demo.label), card: controls };
    },
  };
}
