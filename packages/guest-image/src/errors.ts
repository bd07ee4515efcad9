/** Failure kinds of the guest tooling; callers branch on `code`, never on the message. */
export const GuestImageErrorCode = {
  /** A host tool (apt-get, dpkg-deb, tar, xz) is missing or failed. */
  TOOL_FAILED: 'GUEST_TOOL_FAILED',
  /** A Debian package could not be resolved or downloaded. */
  PACKAGE_UNAVAILABLE: 'GUEST_PACKAGE_UNAVAILABLE',
  /** A file the image needs is not in the unpacked packages (library, module, binary). */
  MISSING_FILE: 'GUEST_MISSING_FILE',
  /** An ELF file, bzImage or kernel module could not be parsed. */
  BAD_FORMAT: 'GUEST_BAD_FORMAT',
  /** QEMU could not be started or exited before the guest printed its result. */
  QEMU_FAILED: 'GUEST_QEMU_FAILED',
  /** The guest did not finish within the time limit. */
  TIMEOUT: 'GUEST_TIMEOUT',
  /** The VSCard peer broke the protocol or the connection failed. */
  VSCARD_PEER: 'GUEST_VSCARD_PEER',
} as const;
export type GuestImageErrorCode = (typeof GuestImageErrorCode)[keyof typeof GuestImageErrorCode];

const brand = Symbol.for('cardlend.guest-image.error');

/** The one error class of @cardlend/guest-image. Platform failures are attached as `cause`. */
export class GuestImageError extends Error {
  readonly code: GuestImageErrorCode;
  readonly [brand] = true;
  constructor(code: GuestImageErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'GuestImageError';
    this.code = code;
  }
}

/** Brand check (works across duplicated module instances). */
export function isGuestImageError(e: unknown): e is GuestImageError {
  return typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[brand] === true;
}
