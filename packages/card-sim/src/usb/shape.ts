/**
 * The USB objects WebUSB hands out for one CCID reader (configuration → interface → alternate →
 * endpoints), shaped like Chrome's, and the transfer results its calls resolve with.
 */
import { ENDPOINT } from '../descriptors.ts';
import type { ReaderProfile } from '../profiles.ts';

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

export class SimEndpoint {
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

/** The reader's only configuration (value 1) with its one CCID interface. */
export class SimConfiguration {
  readonly configurationValue = 1;
  readonly configurationName: string | null = null;
  readonly interfaces: SimInterface[];
  constructor(p: ReaderProfile, isClaimed: () => boolean) {
    this.interfaces = [new SimInterface(p, isClaimed)];
  }

  /** The endpoint `endpointNumber` in `direction`, if the interface has it. */
  endpoint(direction: 'in' | 'out', endpointNumber: number): SimEndpoint | undefined {
    return this.interfaces[0]!.alternate.endpoints.find(
      (e) => e.endpointNumber === endpointNumber && e.direction === direction,
    );
  }
}
