/**
 * What one simulated reader can do, read from its profile: exchange level, dwFeatures bits,
 * dwProtocols and dwMaxIFSD. Shared by the firmware's command families.
 */
import { exchangeLevelOf, type ExchangeLevel, type ReaderProfile } from '../profiles.ts';

/** A reader profile with its capability questions answered. */
export class ReaderCaps {
  readonly profile: ReaderProfile;
  readonly level: ExchangeLevel;

  constructor(profile: ReaderProfile) {
    const level = exchangeLevelOf(profile.features);
    if (level === 'invalid') throw new RangeError('invalid exchange level');
    this.profile = profile;
    this.level = level;
  }

  /** Whether dwFeatures has bit `feature` (CCID_FEATURE). */
  has(feature: number): boolean {
    return (this.profile.features & feature) !== 0;
  }

  /** Whether dwProtocols offers T=`protocol`. */
  supports(protocol: number): boolean {
    return (this.profile.protocols & (1 << protocol)) !== 0;
  }

  /** The IFSD the reader asks for: dwMaxIFSD, with 0 and > 254 (seen in the wild) read as 254. */
  maxIfsd(): number {
    const v = this.profile.maxIfsd;
    return v === 0 || v > 254 ? 254 : v;
  }
}
