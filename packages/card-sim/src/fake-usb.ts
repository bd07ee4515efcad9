/**
 * createFakeUsb: a `navigator.usb` look-alike over simulated readers, for the web app's demo mode
 * and Playwright. Follows Chrome's behaviour: requestDevice needs filters (TypeError otherwise),
 * a filter's classCode matches the device class or any interface class, the chooser may pick
 * nothing (NotFoundError "No device selected."), getDevices lists only granted devices, and
 * connect/disconnect events fire only for granted devices.
 */
import { domException } from './dom-exception.ts';
import { dispatchSoon } from './platform.ts';
import type { SimulatedReader } from './simulated-reader.ts';

/** The event object passed to connect/disconnect listeners (USBConnectionEvent shape). */
export interface FakeUsbConnectionEvent {
  readonly type: 'connect' | 'disconnect';
  readonly device: USBDevice;
  readonly target: FakeUsb;
}

type Listener =
  ((ev: FakeUsbConnectionEvent) => unknown) | { handleEvent(ev: FakeUsbConnectionEvent): unknown };

/** Options of createFakeUsb. */
export interface FakeUsbOptions {
  /** Readers plugged in from the start. */
  readonly readers?: readonly SimulatedReader[];
  /**
   * Plays the user in Chrome's chooser: gets the plugged readers matching the filters, returns
   * the one picked (or undefined = the user cancelled). Default: the first candidate. A reader
   * returned that is not plugged yet is plugged first.
   */
  readonly chooser?: (candidates: readonly SimulatedReader[]) => SimulatedReader | undefined;
  /** Devices the page already has permission for (as after an earlier visit). Default none. */
  readonly granted?: readonly SimulatedReader[];
}

/** The fake `navigator.usb` plus test controls. */
export interface FakeUsb {
  onconnect: ((ev: FakeUsbConnectionEvent) => unknown) | null;
  ondisconnect: ((ev: FakeUsbConnectionEvent) => unknown) | null;
  getDevices(): Promise<USBDevice[]>;
  requestDevice(options?: USBDeviceRequestOptions): Promise<USBDevice>;
  addEventListener(type: string, listener: Listener | null): void;
  removeEventListener(type: string, listener: Listener | null): void;
  dispatchEvent(ev: FakeUsbConnectionEvent): boolean;
  /** Plugs a reader in (fires 'connect' if the page has permission for it). */
  plug(reader: SimulatedReader): void;
  /** Plugged readers. */
  readonly readers: readonly SimulatedReader[];
}

/** Whether `reader` matches one WebUSB filter (WebUSB spec §"matches a device filter"). */
export function matchesFilter(reader: SimulatedReader, filter: USBDeviceFilter): boolean {
  const d = reader.device;
  if (filter.vendorId !== undefined && filter.vendorId !== d.vendorId) return false;
  if (filter.productId !== undefined && filter.productId !== d.productId) return false;
  if (filter.serialNumber !== undefined && filter.serialNumber !== d.serialNumber) return false;
  if (filter.classCode === undefined) return true;
  const candidates: { c: number; s: number; p: number }[] = [
    { c: d.deviceClass, s: d.deviceSubclass, p: d.deviceProtocol },
  ];
  for (const cfg of d.configurations) {
    for (const itf of cfg.interfaces) {
      for (const alt of itf.alternates) {
        candidates.push({
          c: alt.interfaceClass,
          s: alt.interfaceSubclass,
          p: alt.interfaceProtocol,
        });
      }
    }
  }
  return candidates.some(
    (x) =>
      x.c === filter.classCode &&
      (filter.subclassCode === undefined || x.s === filter.subclassCode) &&
      (filter.protocolCode === undefined || x.p === filter.protocolCode),
  );
}

/** requestDevice's argument checks, with Chrome's TypeError texts. */
function checkedRequest(options: USBDeviceRequestOptions | undefined): USBDeviceRequestOptions {
  if (!options || !Array.isArray(options.filters)) {
    throw new TypeError("Failed to execute 'requestDevice' on 'USB': 1 argument required.");
  }
  for (const f of options.filters) {
    if (f.productId !== undefined && f.vendorId === undefined) {
      throw new TypeError('A filter containing a productId must also contain a vendorId.');
    }
    if (f.subclassCode !== undefined && f.classCode === undefined) {
      throw new TypeError('A filter containing a subclassCode must also contain a classCode.');
    }
  }
  return options;
}

/** The plugged readers the chooser offers for `options` (filters minus exclusion filters). */
function chooserCandidates(
  plugged: readonly SimulatedReader[],
  options: USBDeviceRequestOptions,
): SimulatedReader[] {
  const excluded = options.exclusionFilters ?? [];
  return plugged.filter(
    (r) =>
      !r.isGone &&
      (options.filters.length === 0 || options.filters.some((f) => matchesFilter(r, f))) &&
      !excluded.some((f) => matchesFilter(r, f)),
  );
}

/**
 * Creates a fake `navigator.usb`. The result is typed as both the W3C `USB` interface (so it can
 * stand in for `navigator.usb`) and `FakeUsb` (test controls).
 */
export function createFakeUsb(opts: FakeUsbOptions = {}): FakeUsb & USB {
  const plugged: SimulatedReader[] = [];
  const granted = new Set<SimulatedReader>(opts.granted ?? []);
  const listeners = new Map<string, Set<Listener>>();

  const fire = (type: 'connect' | 'disconnect', reader: SimulatedReader): void => {
    if (!granted.has(reader) || reader.isForgotten) return;
    usb.dispatchEvent({ type, device: reader.device, target: usb });
  };

  const usb: FakeUsb = {
    onconnect: null,
    ondisconnect: null,
    get readers() {
      return [...plugged];
    },
    async getDevices() {
      return plugged
        .filter((r) => granted.has(r) && !r.isForgotten && !r.isGone)
        .map((r) => r.device);
    },
    async requestDevice(options?: USBDeviceRequestOptions) {
      const candidates = chooserCandidates(plugged, checkedRequest(options));
      const picked = opts.chooser ? opts.chooser(candidates) : candidates[0];
      if (!picked) throw domException('NotFoundError', 'No device selected.');
      if (!plugged.includes(picked)) usb.plug(picked);
      granted.add(picked);
      return picked.device;
    },
    addEventListener(type, listener) {
      if (!listener) return;
      let set = listeners.get(type);
      if (!set) listeners.set(type, (set = new Set()));
      set.add(listener);
    },
    removeEventListener(type, listener) {
      if (listener) listeners.get(type)?.delete(listener);
    },
    dispatchEvent(ev) {
      const handler = ev.type === 'connect' ? usb.onconnect : usb.ondisconnect;
      if (handler) handler.call(usb, ev);
      for (const l of [...(listeners.get(ev.type) ?? [])]) {
        if (typeof l === 'function') l.call(usb, ev);
        else l.handleEvent(ev);
      }
      return true;
    },
    plug(reader) {
      attach(reader, true);
    },
  };
  function attach(reader: SimulatedReader, announce: boolean): void {
    if (plugged.includes(reader) || reader.isGone) return;
    plugged.push(reader);
    reader.onGone(() => {
      const i = plugged.indexOf(reader);
      if (i >= 0) plugged.splice(i, 1);
      dispatchSoon(() => fire('disconnect', reader));
    });
    if (announce) dispatchSoon(() => fire('connect', reader));
  }
  // Readers present at page load: no 'connect' event (Chrome only reports later arrivals).
  for (const r of opts.readers ?? []) attach(r, false);
  return usb as FakeUsb & USB;
}
