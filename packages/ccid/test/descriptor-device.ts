/**
 * The smallest USBDevice the driver's descriptor path needs, for tests and benches: an
 * identity, open/close with the `opened` state, and every control-IN request answered with
 * (the start of) `config`, the configuration descriptor. `controlRequests` records what was
 * asked; `extra` adds the members a caller needs beyond that (bulk transfers, claimInterface…).
 */
export type DescriptorDevice = USBDevice & {
  readonly controlRequests: USBControlTransferParameters[];
};

export function descriptorDevice(
  config: Uint8Array,
  identity: Partial<
    Pick<USBDevice, 'vendorId' | 'productId' | 'productName' | 'manufacturerName'>
  > = {},
  extra: object = {},
): DescriptorDevice {
  let isOpen = false;
  const device = {
    vendorId: 1,
    productId: 2,
    productName: 'descriptor device',
    manufacturerName: 'test',
    serialNumber: '',
    ...identity,
    controlRequests: [] as USBControlTransferParameters[],
    get opened(): boolean {
      return isOpen;
    },
    async open(): Promise<void> {
      isOpen = true;
    },
    async close(): Promise<void> {
      isOpen = false;
    },
    async controlTransferIn(
      setup: USBControlTransferParameters,
      length: number,
    ): Promise<USBInTransferResult> {
      if (!isOpen) throw new DOMException('The device must be opened first.', 'InvalidStateError');
      device.controlRequests.push(setup);
      const bytes = config.slice(0, length);
      return { status: 'ok', data: new DataView(bytes.buffer) } as USBInTransferResult;
    },
  };
  return Object.assign(device, extra) as unknown as DescriptorDevice;
}
