/**
 * The person's operating system family, only to order the fixes (never to hide any): from a
 * browser's user-agent string, or from Node's `process.platform` (passed in, so this module
 * stays free of Node).
 */
import type { OsFamily } from './types.ts';

/** OS family from a user-agent string. */
export function osFamilyFromUserAgent(userAgent: string): OsFamily {
  if (/CrOS/.test(userAgent)) return 'chromeos';
  if (/Windows/.test(userAgent)) return 'windows';
  if (/Mac OS X|Macintosh/.test(userAgent)) return 'macos';
  if (/Linux|X11/.test(userAgent)) return 'linux';
  return 'other';
}

/** OS family from Node's `process.platform` (`linux`, `win32`, `darwin`, …). */
export function osFamilyFromPlatform(platform: string): OsFamily {
  switch (platform) {
    case 'linux':
      return 'linux';
    case 'win32':
      return 'windows';
    case 'darwin':
      return 'macos';
    default:
      return 'other';
  }
}
