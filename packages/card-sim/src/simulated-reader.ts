/**
 * SimulatedReader: a USB CCID reader behind the W3C WebUSB `USBDevice` interface. The USB side
 * (descriptors, claim rules, packetisation, halts, disconnect) behaves like Chrome on real
 * hardware (./usb/); the CCID side is CcidFirmware.
 */
import { toDataView } from './bytes.ts';
import { CcidFirmware, type FirmwareHost, type SlotSnapshot } from './ccid-firmware.ts';
import { buildConfigurationDescriptor, buildDeviceDescriptor } from './descriptors.ts';
import { CHROME_USB_MESSAGES as M, domException } from './dom-exception.ts';
import { CardSimError } from './errors.ts';
import { FaultInjector, type FaultPlan } from './faults.ts';
import { runSoon, sleep } from './platform.ts';
import { exchangeLevelOf, type ReaderProfile } from './profiles.ts';
import { BulkInQueue, BulkOutAssembler } from './usb/bulk-pipe.ts';
import { controlIn, controlOut, type ControlTarget } from './usb/control.ts';
import { createUsbDevice, type DeviceBackend } from './usb/device-object.ts';
import { UsbDeviceState, Waiters, type HeldBy } from './usb/device-state.ts';
import {
  SimConfiguration,
  type SimInTransferResult,
  type SimOutTransferResult,
} from './usb/shape.ts';
import { validateCard, type VirtualCard } from './virtual-card.ts';

export type { HeldBy } from './usb/device-state.ts';
export type { SimInTransferResult, SimOutTransferResult } from './usb/shape.ts';

/** Options of SimulatedReader. */
export interface SimulatedReaderOptions {
  readonly profile: ReaderProfile;
  /** Refuse claimInterface on class 0x0B like Chrome does for pages (protected class). Default false. */
  readonly emulateChrome?: boolean;
  readonly faults?: FaultPlan;
  /** iSerialNumber text; default derived from the profile id. */
  readonly serialNumber?: string;
}

/** USB traffic counters (one per transfer call). */
export interface ReaderStats {
  bulkOut: number;
  bulkIn: number;
  interruptIn: number;
  control: number;
}

/** A SlotStatus left over from a previous host session (ccid.md §4.2, §18). */
const STALE_SLOT_STATUS = Uint8Array.of(0x81, 0, 0, 0, 0, 0, 0xa7, 0x01, 0, 0);

/** Marks a rejection handled (one function for all transfers). */
const ignore = (): void => undefined;

/** Refuses profiles the simulator cannot impersonate. */
function checkProfile(p: ReaderProfile): void {
  const level = exchangeLevelOf(p.features);
  if (level === 'invalid' || level === 'character') {
    throw new CardSimError(
      'CARD_SIM_BAD_PROFILE',
      `${p.id}: exchange level ${level} is not simulated`,
    );
  }
  if (![8, 16, 32, 64].includes(p.bulkPacketSize)) {
    throw new CardSimError('CARD_SIM_BAD_PROFILE', `${p.id}: bulk packet size ${p.bulkPacketSize}`);
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
  readonly #state = new UsbDeviceState();
  readonly #control: ControlTarget;
  readonly #bulkIn: BulkInQueue;
  readonly #bulkOut: BulkOutAssembler;
  readonly #interrupts: Uint8Array[] = [];
  readonly #interruptDue = new Waiters();
  #inChain: Promise<unknown> = Promise.resolve();
  #staleSent = false;
  readonly #goneListeners = new Set<() => void>();

  constructor(opts: SimulatedReaderOptions) {
    const p = opts.profile;
    checkProfile(p);
    this.profile = p;
    this.emulateChrome = opts.emulateChrome ?? false;
    this.serialNumber = opts.serialNumber ?? `SIM-${p.id}`;
    this.faults = new FaultInjector(opts.faults);
    this.#bulkIn = new BulkInQueue(p.bulkPacketSize, this.faults);
    this.#bulkOut = new BulkOutAssembler(p.firmwareMaxMessageLength ?? p.maxMessageLength);
    this.#firmware = new CcidFirmware(p, this.#firmwareHost());
    const state = this.#state;
    const firmware = this.#firmware;
    this.#control = {
      profile: p,
      serialNumber: this.serialNumber,
      deviceDescriptor: buildDeviceDescriptor(p),
      configDescriptor: buildConfigurationDescriptor(p),
      get isConfigured() {
        return state.isConfigured;
      },
      set isConfigured(value: boolean) {
        state.isConfigured = value;
      },
      abort: (slot, seq) => firmware.controlAbort(slot, seq),
    };
    this.device = createUsbDevice(this.#deviceBackend());
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
    const state = this.#state;
    if (state.isGone) return;
    state.isGone = true;
    state.isOpened = false;
    state.isClaimed = false;
    state.rejectPending(() => domException('NotFoundError', M.deviceDisconnected));
    for (const l of [...this.#goneListeners]) l();
  }

  /** Whether unplug() happened. */
  get isGone(): boolean {
    return this.#state.isGone;
  }

  /** Whether forget() was called on the device. */
  get isForgotten(): boolean {
    return this.#state.isForgotten;
  }

  /**
   * Another program (pcscd, the OS driver) holds the reader; open()/claimInterface() fail as
   * Chrome reports it on that OS. `false` releases it.
   */
  setHeldByOtherProgram(held: boolean, os: HeldBy = 'linux'): void {
    this.#state.heldBy = held ? os : null;
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

  // ---- wiring ----------------------------------------------------------------------------------

  #firmwareHost(): FirmwareHost {
    return {
      sendBulk: (m) => {
        if (!this.#state.isGone) this.#bulkIn.push(m);
      },
      slotChanged: () => this.#interruptDue.wakeAll(),
      sendInterrupt: (m) => {
        this.#interrupts.push(m);
        this.#interruptDue.wakeAll();
      },
      unplug: () => this.unplug(),
      delay: sleep,
      faults: this.faults,
      isGone: () => this.#state.isGone,
    };
  }

  #deviceBackend(): DeviceBackend {
    return {
      profile: this.profile,
      serialNumber: this.serialNumber,
      emulateChrome: this.emulateChrome,
      configuration: new SimConfiguration(this.profile, () => this.#state.isClaimed),
      state: this.#state,
      opened: () => this.#opened(),
      controlIn: (setup, length) => {
        this.stats.control++;
        return controlIn(this.#control, setup, length);
      },
      controlOut: (setup, data) => {
        this.stats.control++;
        return controlOut(this.#control, setup, data);
      },
      bulkIn: (length) => {
        this.stats.bulkIn++;
        // Bulk-IN transfers complete in submission order.
        const run = this.#inChain.then(() => this.#bulkTransferIn(length));
        this.#inChain = run.catch(ignore);
        return run;
      },
      interruptIn: (length) => {
        this.stats.interruptIn++;
        return this.#interruptTransferIn(length);
      },
      bulkOut: (bytes) => {
        this.stats.bulkOut++;
        return this.#bulkTransferOut(bytes);
      },
      reset: () => this.#reset(),
    };
  }

  #opened(): void {
    if (this.faults.plan.staleFrameAtOpen && !this.#staleSent) {
      this.#staleSent = true;
      if (!this.#state.isGone) this.#bulkIn.push(STALE_SLOT_STATUS);
    }
  }

  #reset(): void {
    this.#bulkIn.clear();
    this.#bulkOut.clear();
    this.#state.haltedIn = false;
    this.#state.haltedOut = false;
    this.#firmware.resetAll();
  }

  // ---- transfers -------------------------------------------------------------------------------

  async #bulkTransferIn(length: number): Promise<SimInTransferResult> {
    const state = this.#state;
    if (this.faults.shouldFire('bulkInStall')) state.haltedIn = true;
    if (state.haltedIn) return { status: 'stall' };
    return this.#bulkIn.read(length, this.#bulkInArrival);
  }

  /** A bulk-IN read waits here for packets (one function for all reads). */
  readonly #bulkInArrival = async (): Promise<void> => {
    await this.#state.wait(this.#bulkIn.arrived);
    this.#state.assertUsable();
  };

  async #interruptTransferIn(length: number): Promise<SimInTransferResult> {
    for (;;) {
      const msg = this.#interrupts.shift() ?? this.#firmware.takeSlotChangeMessage();
      if (msg) {
        if (msg.length > length)
          return { status: 'babble', data: toDataView(msg.subarray(0, length)) };
        return { status: 'ok', data: toDataView(msg) };
      }
      await this.#state.wait(this.#interruptDue);
      this.#state.assertUsable();
    }
  }

  #bulkTransferOut(bytes: Uint8Array): SimOutTransferResult {
    if (this.faults.shouldFire('bulkOutStall')) this.#state.haltedOut = true;
    if (this.#state.haltedOut) return { status: 'stall', bytesWritten: 0 };
    const events = this.#bulkOut.push(bytes);
    for (let i = 0; i < events.length; i++) {
      const event = events[i]!;
      // The reader starts on the command after the OUT transfer has completed.
      if (event.kind === 'bad-length') {
        runSoon(() => this.#firmware.rejectBadLength(event.header));
      } else {
        runSoon(() => {
          if (!this.#state.isGone) this.#firmware.handleMessage(event.message);
        });
      }
    }
    return { status: 'ok', bytesWritten: bytes.length };
  }
}
