/**
 * One-call setup for the web app's demo mode and Playwright: a simulated vendor-class reader
 * (claimable in Chrome) holding the PIV demo card, behind a fake `navigator.usb`.
 */
import { createFakeUsb, type FakeUsb } from './fake-usb.ts';
import type { FaultPlan } from './faults.ts';
import { createPivDemoCard, type PivDemoCard, type PivDemoCardOptions } from './piv/piv-card.ts';
import { readerProfiles, type ReaderProfile } from './profiles.ts';
import { SimulatedReader } from './simulated-reader.ts';

/** Options of createDemoEnvironment. */
export interface DemoEnvironmentOptions {
  /** Reader profile, default `readerProfiles.vendorClass` (class 0xFF: Chrome lets pages claim it). */
  readonly profile?: ReaderProfile;
  /** Refuse class-0x0B interfaces like Chrome does (default true). */
  readonly emulateChrome?: boolean;
  /** Options of the PIV demo card (PIN, credentials, ...). */
  readonly card?: PivDemoCardOptions;
  /** Whether the card is in the reader from the start (default true). */
  readonly isCardInserted?: boolean;
  readonly faults?: FaultPlan;
}

/** The objects of a demo environment. */
export interface DemoEnvironment {
  readonly usb: FakeUsb & USB;
  readonly reader: SimulatedReader;
  readonly card: PivDemoCard;
}

/** Builds the reader, the card and the fake `navigator.usb` (the reader is plugged in, not granted). */
export async function createDemoEnvironment(
  opts: DemoEnvironmentOptions = {},
): Promise<DemoEnvironment> {
  const reader = new SimulatedReader({
    profile: opts.profile ?? readerProfiles.vendorClass,
    emulateChrome: opts.emulateChrome ?? true,
    ...(opts.faults ? { faults: opts.faults } : {}),
  });
  const card = await createPivDemoCard(opts.card);
  if (opts.isCardInserted ?? true) reader.insertCard(card);
  const usb = createFakeUsb({ readers: [reader] });
  return { usb, reader, card };
}
