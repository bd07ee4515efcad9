/**
 * SimulatedReader: a USB CCID reader behind the W3C WebUSB `USBDevice` interface. The USB side
 * (descriptors, claim rules, packetisation, halts, disconnect) behaves like Chrome on real
 * hardware; the CCID side is CcidFirmware.
 */
import { concatBytes, readLe16, toBytes, toDataView } from './bytes.ts';
import { RDR_to_PC } from './ccid-constants.ts';
import { CcidFirmware, type FirmwareHost, type SlotSnapshot } from './ccid-firmware.ts';
import {
  buildConfigurationDescriptor,
  buildDeviceDescriptor,
  buildStringDescriptor,
  ENDPOINT,
  STRING_INDEX,
} from './descriptors.ts';
import { CHROME_USB_MESSAGES as M, domException } from './dom-exception.ts';
import { CardSimError } from './errors.ts';
import { FaultInjector, type FaultPlan } from './faults.ts';
import { runSoon, sleep } from './platform.ts';
import { exchangeLevelOf, type ReaderProfile } from './profiles.ts';
import { validateCard, type VirtualCard } from './virtual-card.ts';

/** Options of SimulatedReader. */
export interface SimulatedReaderOptions {
  readonly profile: ReaderProfile;
  /** Refuse claimInterface on class 0x0B like Chrome does for pages (protected class). Default false. */
  readonly emulateChrome?: boolean;
  readonly faults?: FaultPlan;
  /** iSerialNumber text; default derived from the profile id. */
  readonly serialNumber?: string;
}

/** Which OS behaviour `setHeldByOtherProgram` imitates (ccid.md §1). */
export type HeldBy =
  /** pcscd holds the interface: open() works, claimInterface() fails (NetworkError). */
  | 'linux'
  /** The OS CCID driver owns the device: claimInterface() fails (NetworkError). */
  | 'macos'
  /** usbccid is bound instead of WinUSB: open() fails (SecurityError "Access denied."). */
  | 'windows';

/** USB traffic counters (one per transfer call). */
export interface ReaderStats {
  bulkOut: number;
  bulkIn: number;
  interruptIn: number;
  control: number;
}

type UsbResultStatus = 'ok' | 'stall' | 'babble';
/** A USBInTransferResult-shaped object. */
export interface SimInTransferResult {
  readonly status: UsbResultStatus;
  readonly data?: DataView;
}
/** A USBOutTransferResult-shaped object. */
export interface SimOutTransferResult {
  readonly status: UsbResultStatus;
  readonly bytesWritten: number;
}

const BREAK = Symbol('transfer-break');
type InItem = Uint8Array | typeof BREAK;

class SimEndpoint {
  readonly endpointNumber: number;
  readonly direction: 'in' | 'out';
  readonly type: 'bulk' | 'interrupt' | 'isochronous';
  readonly packetSize: number;
  constructor(address: number, type: 'bulk' | 'interrupt', packetSize: number) {
    this.endpointNumber = address & 0x0f;
    this.direction = address & 0x80 ? 'in' : 'out';
    this.type = type;
    this.packetSize = packetSize;
  }
}

class SimAlternate {
  readonly alternateSetting = 0;
  readonly interfaceClass: number;
  readonly interfaceSubclass: number;
  readonly interfaceProtocol: number;
  readonly interfaceName: string | null = null;
  readonly endpoints: SimEndpoint[];
  constructor(p: ReaderProfile) {
    this.interfaceClass = p.interfaceClass;
    this.interfaceSubclass = p.interfaceSubclass;
    this.interfaceProtocol = p.interfaceProtocol;
    this.endpoints = [
      new SimEndpoint(ENDPOINT.bulkOut, 'bulk', p.bulkPacketSize),
      new SimEndpoint(ENDPOINT.bulkIn, 'bulk', p.bulkPacketSize),
    ];
    if (p.hasInterruptEndpoint) {
      this.endpoints.push(
        new SimEndpoint(ENDPOINT.interruptIn, 'interrupt', p.interruptPacketSize),
      );
    }
  }
}

class SimInterface {
  readonly interfaceNumber = 0;
  readonly alternate: SimAlternate;
  readonly alternates: SimAlternate[];
  readonly #isClaimed: () => boolean;
  constructor(p: ReaderProfile, isClaimed: () => boolean) {
    this.alternate = new SimAlternate(p);
    this.alternates = [this.alternate];
    this.#isClaimed = isClaimed;
  }
  get claimed(): boolean {
    return this.#isClaimed();
  }
}

class SimConfiguration {
  readonly configurationValue = 1;
  readonly configurationName: string | null = null;
  readonly interfaces: SimInterface[];
  constructor(p: ReaderProfile, isClaimed: () => boolean) {
    this.interfaces = [new SimInterface(p, isClaimed)];
  }
}

/** A simulated CCID reader. `device` is what a WebUSB driver receives. */
export class SimulatedReader {
  readonly profile: ReaderProfile;
  readonly device: USBDevice;
  readonly stats: ReaderStats = { bulkOut: 0, bulkIn: 0, interruptIn: 0, control: 0 };
  readonly faults: FaultInjector;
  readonly emulateChrome: boolean;
  readonly serialNumber: string;
  readonly #firmware: CcidFirmware;
  readonly #configuration: SimConfiguration;
  readonly #deviceDescriptor: Uint8Array;
  readonly #configDescriptor: Uint8Array;
  #inQueue: InItem[] = [];
  #inWake: (() => void)[] = [];
  #intQueue: Uint8Array[] = [];
  #intWake: (() => void)[] = [];
  #outBuffer: Uint8Array = new Uint8Array(0);
  #inChain: Promise<unknown> = Promise.resolve();
  #isGone = false;
  #isOpened = false;
  #isConfigured = true;
  #isClaimed = false;
  #isForgotten = false;
  #haltedIn = false;
  #haltedOut = false;
  #heldBy: HeldBy | null = null;
  #staleSent = false;
  readonly #rejecters = new Set<(e: Error) => void>();
  readonly #goneListeners = new Set<() => void>();

  constructor(opts: SimulatedReaderOptions) {
    const p = opts.profile;
    const level = exchangeLevelOf(p.features);
    if (level === 'invalid' || level === 'character') {
      throw new CardSimError(
        'CARD_SIM_BAD_PROFILE',
        `${p.id}: exchange level ${level} is not simulated`,
      );
    }
    if (![8, 16, 32, 64].includes(p.bulkPacketSize)) {
      throw new CardSimError(
        'CARD_SIM_BAD_PROFILE',
        `${p.id}: bulk packet size ${p.bulkPacketSize}`,
      );
    }
    this.profile = p;
    this.emulateChrome = opts.emulateChrome ?? false;
    this.serialNumber = opts.serialNumber ?? `SIM-${p.id}`;
    this.faults = new FaultInjector(opts.faults);
    const host: FirmwareHost = {
      sendBulk: (m) => this.#queueBulkIn(m),
      slotChanged: () => this.#wakeInterrupt(),
      sendInterrupt: (m) => {
        this.#intQueue.push(m);
        this.#wakeInterrupt();
      },
      unplug: () => this.unplug(),
      delay: sleep,
      faults: this.faults,
      isGone: () => this.#isGone,
    };
    this.#firmware = new CcidFirmware(p, host);
    this.#configuration = new SimConfiguration(p, () => this.#isClaimed);
    this.#deviceDescriptor = buildDeviceDescriptor(p);
    this.#configDescriptor = buildConfigurationDescriptor(p);
    this.device = this.#makeDevice();
  }

  // ---- test controls ---------------------------------------------------------------------------

  /** Inserts a card (NotifySlotChange follows). Throws CardSimError on a bad slot or card. */
  insertCard(card: VirtualCard, slot = 0): void {
    this.#checkSlot(slot);
    validateCard(card);
    this.#firmware.insertCard(slot, card);
  }

  /** Removes the card (NotifySlotChange follows; a running command fails with ICC_MUTE). */
  removeCard(slot = 0): void {
    this.#checkSlot(slot);
    this.#firmware.removeCard(slot);
  }

  /** Sends an interrupt HardwareError (CCID §6.3.2) for `slot`. */
  injectHardwareError(slot = 0, code = 0x01, seq = 0): void {
    this.#checkSlot(slot);
    this.#firmware.hardwareError(slot, seq, code);
  }

  /** The reader's view of a slot (protocol, parameters, T=1 state), for assertions. */
  slotState(slot = 0): SlotSnapshot {
    this.#checkSlot(slot);
    return this.#firmware.snapshot(slot);
  }

  /** Unplugs the device: pending and later calls reject with NotFoundError like Chrome. */
  unplug(): void {
    if (this.#isGone) return;
    this.#isGone = true;
    this.#isOpened = false;
    this.#isClaimed = false;
    const err = (): Error => domException('NotFoundError', M.deviceDisconnected);
    for (const reject of [...this.#rejecters]) reject(err());
    this.#rejecters.clear();
    for (const l of [...this.#goneListeners]) l();
  }

  /** Whether unplug() happened. */
  get isGone(): boolean {
    return this.#isGone;
  }

  /** Whether forget() was called on the device. */
  get isForgotten(): boolean {
    return this.#isForgotten;
  }

  /**
   * Another program (pcscd, the OS driver) holds the reader; open()/claimInterface() fail as
   * Chrome reports it on that OS. `false` releases it.
   */
  setHeldByOtherProgram(held: boolean, os: HeldBy = 'linux'): void {
    this.#heldBy = held ? os : null;
  }

  /** Called once when the device is unplugged (used by createFakeUsb). */
  onGone(listener: () => void): () => void {
    this.#goneListeners.add(listener);
    return () => this.#goneListeners.delete(listener);
  }

  #checkSlot(slot: number): void {
    if (!Number.isInteger(slot) || slot < 0 || slot > this.profile.maxSlotIndex) {
      throw new CardSimError(
        'CARD_SIM_BAD_SLOT',
        `slot ${slot} outside 0..${this.profile.maxSlotIndex}`,
      );
    }
  }

  // ---- bulk-IN packetisation -------------------------------------------------------------------

  #queueBulkIn(whole: Uint8Array): void {
    if (this.#isGone) return;
    const message = this.#maybeCut(whole);
    const size = this.profile.bulkPacketSize;
    if (this.faults.shouldFire('strayZlp')) this.#inQueue.push(new Uint8Array(0));
    const split = message.length > size && this.faults.shouldFire('splitTransfers');
    const fullEnd = message.length - (message.length % size);
    for (let at = 0; at < message.length; at += size) {
      if (split && at === fullEnd && at > 0) this.#inQueue.push(BREAK);
      this.#inQueue.push(message.subarray(at, Math.min(at + size, message.length)));
    }
    // USB 2.0 §5.8.3: a transfer that is an exact multiple of wMaxPacketSize ends with a ZLP.
    if (message.length % size === 0) this.#inQueue.push(new Uint8Array(0));
    this.#wakeBulkIn();
  }

  /** The cutAnswer fault: a DataBlock loses its tail (the reader's transfer ended early). */
  #maybeCut(message: Uint8Array): Uint8Array {
    if (message[0] !== RDR_to_PC.DataBlock || message.length < 2) return message;
    if (!this.faults.shouldFire('cutAnswer')) return message;
    const keep = this.faults.plan.cutAnswer?.keepBytes ?? Math.floor(message.length / 2);
    return message.subarray(0, Math.min(message.length - 1, Math.max(1, keep)));
  }

  #wakeBulkIn(): void {
    const w = this.#inWake;
    this.#inWake = [];
    for (const f of w) f();
  }

  #wakeInterrupt(): void {
    const w = this.#intWake;
    this.#intWake = [];
    for (const f of w) f();
  }

  /** Wait for `wakeList` to fire, rejecting on unplug/close. */
  #wait(wakeList: 'in' | 'int'): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const rejecter = (e: Error): void => reject(e);
      this.#rejecters.add(rejecter);
      const wake = (): void => {
        this.#rejecters.delete(rejecter);
        resolve();
      };
      if (wakeList === 'in') this.#inWake.push(wake);
      else this.#intWake.push(wake);
    });
  }

  async #bulkTransferIn(length: number): Promise<SimInTransferResult> {
    if (this.faults.shouldFire('bulkInStall')) this.#haltedIn = true;
    if (this.#haltedIn) return { status: 'stall' };
    const size = this.profile.bulkPacketSize;
    const chunks: Uint8Array[] = [];
    let received = 0;
    for (;;) {
      while (this.#inQueue.length === 0) {
        await this.#wait('in');
        this.#assertUsable();
      }
      const item = this.#inQueue[0]!;
      if (item === BREAK) {
        this.#inQueue.shift();
        if (received > 0) break;
        continue;
      }
      if (received + item.length > length) {
        if (received > 0) break;
        // USB babble: the device sent more than the buffer holds (ccid.md §1); the packet is lost.
        this.#inQueue.shift();
        chunks.push(item.subarray(0, length - received));
        return { status: 'babble', data: toDataView(concatBytes(...chunks)) };
      }
      this.#inQueue.shift();
      chunks.push(item);
      received += item.length;
      if (item.length < size || received === length) break;
    }
    return { status: 'ok', data: toDataView(concatBytes(...chunks)) };
  }

  async #interruptTransferIn(length: number): Promise<SimInTransferResult> {
    for (;;) {
      const queued = this.#intQueue.shift();
      const msg = queued ?? this.#firmware.takeSlotChangeMessage();
      if (msg) {
        if (msg.length > length)
          return { status: 'babble', data: toDataView(msg.subarray(0, length)) };
        return { status: 'ok', data: toDataView(msg) };
      }
      await this.#wait('int');
      this.#assertUsable();
    }
  }

  #bulkTransferOut(bytes: Uint8Array): SimOutTransferResult {
    if (this.faults.shouldFire('bulkOutStall')) this.#haltedOut = true;
    if (this.#haltedOut) return { status: 'stall', bytesWritten: 0 };
    this.#outBuffer = concatBytes(this.#outBuffer, bytes);
    for (;;) {
      const buf = this.#outBuffer;
      if (buf.length < 10) break;
      const dwLength = readLe16(buf, 1) + readLe16(buf, 3) * 65536;
      if (
        dwLength >
        (this.profile.firmwareMaxMessageLength ?? this.profile.maxMessageLength) - 10
      ) {
        // CCID §6.2.6: bad dwLength (offset 1); the rest of this transfer is discarded.
        this.#outBuffer = new Uint8Array(0);
        const header = buf.slice(0, 10);
        runSoon(() => this.#firmware.rejectBadLength(header));
        break;
      }
      if (buf.length < 10 + dwLength) break;
      const msg = buf.slice(0, 10 + dwLength);
      this.#outBuffer = buf.slice(10 + dwLength);
      // The reader starts on the command after the OUT transfer has completed.
      runSoon(() => {
        if (!this.#isGone) this.#firmware.handleMessage(msg);
      });
    }
    return { status: 'ok', bytesWritten: bytes.length };
  }

  // ---- control transfers -----------------------------------------------------------------------

  #controlIn(setup: USBControlTransferParameters, length: number): SimInTransferResult {
    const { requestType, recipient, request, value, index } = setup;
    const reply = (bytes: Uint8Array): SimInTransferResult => ({
      status: 'ok',
      data: toDataView(bytes.subarray(0, Math.min(length, bytes.length))),
    });
    if (requestType === 'standard' && request === 0x06 && recipient === 'device') {
      const type = value >> 8;
      const idx = value & 0xff;
      if (type === 0x01) return reply(this.#deviceDescriptor);
      if (type === 0x02 && idx === 0) return reply(this.#configDescriptor);
      if (type === 0x03) {
        if (idx === 0) return reply(buildStringDescriptor(null));
        const text =
          idx === STRING_INDEX.manufacturer
            ? this.profile.manufacturer
            : idx === STRING_INDEX.product
              ? this.profile.product
              : idx === STRING_INDEX.serialNumber
                ? this.serialNumber
                : undefined;
        if (text !== undefined) return reply(buildStringDescriptor(text));
      }
      return { status: 'stall' };
    }
    if (requestType === 'standard' && request === 0x00) return reply(Uint8Array.of(0, 0)); // GET_STATUS
    if (requestType === 'standard' && request === 0x08 && recipient === 'device') {
      return reply(Uint8Array.of(this.#isConfigured ? 1 : 0)); // GET_CONFIGURATION
    }
    if (requestType === 'class' && recipient === 'interface' && (index & 0xff) === 0) {
      // CCID §5.3.2 / §5.3.3: GET_CLOCK_FREQUENCIES / GET_DATA_RATES, arrays of LE uint32.
      const table =
        request === 0x02
          ? this.profile.clockFrequenciesKhz
          : request === 0x03
            ? this.profile.dataRates
            : undefined;
      if (table === undefined || table === 'stall') return { status: 'stall' };
      const out = new Uint8Array(table.length * 4);
      table.forEach((v, i) => {
        out[i * 4] = v & 0xff;
        out[i * 4 + 1] = (v >>> 8) & 0xff;
        out[i * 4 + 2] = (v >>> 16) & 0xff;
        out[i * 4 + 3] = (v >>> 24) & 0xff;
      });
      return reply(out);
    }
    return { status: 'stall' };
  }

  #controlOut(setup: USBControlTransferParameters, data: Uint8Array): SimOutTransferResult {
    const { requestType, recipient, request, value, index } = setup;
    if (
      requestType === 'class' &&
      recipient === 'interface' &&
      (index & 0xff) === 0 &&
      request === 0x01
    ) {
      // CCID §5.3.1 ABORT: wValue = bSeq << 8 | bSlot.
      if (!this.#firmware.controlAbort(value & 0xff, value >> 8))
        return { status: 'stall', bytesWritten: 0 };
      return { status: 'ok', bytesWritten: data.length };
    }
    if (requestType === 'standard' && request === 0x09 && recipient === 'device') {
      this.#isConfigured = value === 1; // SET_CONFIGURATION
      return { status: 'ok', bytesWritten: 0 };
    }
    return { status: 'stall', bytesWritten: 0 };
  }

  // ---- USBDevice surface -------------------------------------------------------------------------

  #assertUsable(): void {
    if (this.#isGone) throw domException('NotFoundError', M.deviceDisconnected);
  }

  #assertOpen(): void {
    this.#assertUsable();
    if (!this.#isOpened) throw domException('InvalidStateError', M.openRequired);
  }

  #assertConfigured(): void {
    this.#assertOpen();
    if (!this.#isConfigured) throw domException('InvalidStateError', M.configurationRequired);
  }

  #assertEndpoint(direction: 'in' | 'out', endpointNumber: number): SimEndpoint {
    this.#assertConfigured();
    if (endpointNumber <= 0 || endpointNumber >= 16)
      throw domException('IndexSizeError', M.endpointOutOfRange);
    const ep = this.#configuration.interfaces[0]!.alternate.endpoints.find(
      (e) => e.endpointNumber === endpointNumber && e.direction === direction,
    );
    if (!ep || !this.#isClaimed) throw domException('NotFoundError', M.endpointNotFound);
    return ep;
  }

  #assertInterface(interfaceNumber: number): void {
    this.#assertConfigured();
    if (interfaceNumber !== 0) throw domException('NotFoundError', M.interfaceNotFound);
  }

  /**
   * Runs `fn` asynchronously. Transfers (`isTransfer`) also reject when the device goes away or is
   * closed meanwhile, like Chrome's pending requests.
   */
  #async<T>(fn: () => T | Promise<T>, isTransfer = false): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const rejecter = (e: Error): void => reject(e);
      if (isTransfer) this.#rejecters.add(rejecter);
      runSoon(() => {
        Promise.resolve()
          .then(fn)
          .then(
            (v) => {
              this.#rejecters.delete(rejecter);
              resolve(v);
            },
            (e: unknown) => {
              this.#rejecters.delete(rejecter);
              reject(e instanceof Error ? e : new Error(String(e)));
            },
          );
      });
    });
  }

  #makeDevice(): USBDevice {
    const currentConfiguration = (): SimConfiguration | null =>
      this.#isConfigured ? this.#configuration : null;
    const isOpened = (): boolean => this.#isOpened;
    const p = this.profile;
    const [maj, min, sub] = p.deviceVersion;
    const device = {
      usbVersionMajor: 2,
      usbVersionMinor: 0,
      usbVersionSubminor: 0,
      deviceClass: 0,
      deviceSubclass: 0,
      deviceProtocol: 0,
      vendorId: p.vendorId,
      productId: p.productId,
      deviceVersionMajor: maj,
      deviceVersionMinor: min,
      deviceVersionSubminor: sub,
      manufacturerName: p.manufacturer,
      productName: p.product,
      serialNumber: this.serialNumber,
      get configuration() {
        return currentConfiguration();
      },
      configurations: [this.#configuration],
      get opened() {
        return isOpened();
      },
      open: () =>
        this.#async(() => {
          this.#assertUsable();
          if (this.#isOpened) return;
          if (this.#heldBy === 'windows') throw domException('SecurityError', M.accessDenied);
          this.#isOpened = true;
          if (this.faults.plan.staleFrameAtOpen && !this.#staleSent) {
            this.#staleSent = true;
            // A SlotStatus left over from a previous host session (ccid.md §4.2, §18).
            this.#queueBulkIn(Uint8Array.of(0x81, 0, 0, 0, 0, 0, 0xa7, 0x01, 0, 0));
          }
        }),
      close: () =>
        this.#async(() => {
          this.#assertUsable();
          if (!this.#isOpened) return;
          this.#isOpened = false;
          this.#isClaimed = false;
          const err = domException('AbortError', M.transferCancelled);
          for (const r of [...this.#rejecters]) r(err);
          this.#rejecters.clear();
        }),
      forget: () =>
        this.#async(() => {
          this.#isForgotten = true;
          this.#isOpened = false;
          this.#isClaimed = false;
        }),
      selectConfiguration: (value: number) =>
        this.#async(() => {
          this.#assertOpen();
          if (value !== 1) throw domException('NotFoundError', M.configurationNotFound);
          this.#isConfigured = true;
        }),
      claimInterface: (interfaceNumber: number) =>
        this.#async(() => {
          this.#assertInterface(interfaceNumber);
          if (this.#isClaimed) return;
          if (this.emulateChrome && p.interfaceClass === 0x0b) {
            throw domException('SecurityError', M.protectedClass);
          }
          if (this.#heldBy === 'linux' || this.#heldBy === 'macos') {
            throw domException('NetworkError', M.unableToClaim);
          }
          this.#isClaimed = true;
        }),
      releaseInterface: (interfaceNumber: number) =>
        this.#async(() => {
          this.#assertInterface(interfaceNumber);
          this.#isClaimed = false;
        }),
      selectAlternateInterface: (interfaceNumber: number, alternateSetting: number) =>
        this.#async(() => {
          this.#assertInterface(interfaceNumber);
          if (!this.#isClaimed) throw domException('InvalidStateError', M.interfaceNotClaimed);
          if (alternateSetting !== 0) throw domException('NotFoundError', M.alternateNotFound);
        }),
      controlTransferIn: (setup: USBControlTransferParameters, length: number) =>
        this.#async(() => {
          this.#assertOpen();
          if (setup.recipient === 'interface') {
            this.#assertInterface(setup.index & 0xff);
            if (!this.#isClaimed) throw domException('InvalidStateError', M.interfaceNotClaimed);
          }
          this.stats.control++;
          return this.#controlIn(setup, length);
        }, true),
      controlTransferOut: (
        setup: USBControlTransferParameters,
        data?: ArrayBuffer | ArrayBufferView,
      ) =>
        this.#async(() => {
          this.#assertOpen();
          if (setup.recipient === 'interface') {
            this.#assertInterface(setup.index & 0xff);
            if (!this.#isClaimed) throw domException('InvalidStateError', M.interfaceNotClaimed);
          }
          this.stats.control++;
          return this.#controlOut(setup, data ? toBytes(data) : new Uint8Array(0));
        }, true),
      clearHalt: (direction: 'in' | 'out', endpointNumber: number) =>
        this.#async(() => {
          this.#assertEndpoint(direction, endpointNumber);
          if (direction === 'in') this.#haltedIn = false;
          else this.#haltedOut = false;
        }),
      transferIn: (endpointNumber: number, length: number) =>
        this.#async(() => {
          const ep = this.#assertEndpoint('in', endpointNumber);
          if (ep.type === 'interrupt') {
            this.stats.interruptIn++;
            return this.#interruptTransferIn(length);
          }
          this.stats.bulkIn++;
          // Bulk-IN transfers complete in submission order.
          const run = this.#inChain.then(() => this.#bulkTransferIn(length));
          this.#inChain = run.catch(() => undefined);
          return run;
        }, true),
      transferOut: (endpointNumber: number, data: ArrayBuffer | ArrayBufferView) =>
        this.#async(() => {
          this.#assertEndpoint('out', endpointNumber);
          this.stats.bulkOut++;
          return this.#bulkTransferOut(toBytes(data));
        }, true),
      isochronousTransferIn: () =>
        this.#async(() => {
          this.#assertConfigured();
          throw domException('NotFoundError', M.endpointNotFound);
        }),
      isochronousTransferOut: () =>
        this.#async(() => {
          this.#assertConfigured();
          throw domException('NotFoundError', M.endpointNotFound);
        }),
      reset: () =>
        this.#async(() => {
          this.#assertOpen();
          this.#inQueue = [];
          this.#outBuffer = new Uint8Array(0);
          this.#haltedIn = false;
          this.#haltedOut = false;
          this.#firmware.resetAll();
        }),
    };
    return device as unknown as USBDevice;
  }
}
