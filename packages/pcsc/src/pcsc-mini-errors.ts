/**
 * pcsc-mini's errors as PcscErrors: its error codes are Zig error names (`SharingViolation`),
 * mapped here to the PC/SC code names the rest of the package speaks.
 */
import { isPcscCode, isPcscError, PcscError } from './errors.ts';
import type { PcscCode } from './errors.ts';

/** pcsc-mini's error codes (Zig error names) → PC/SC code names. */
const MINI_CODES: Readonly<Record<string, PcscCode>> = {
  BadSeek: 'SCARD_E_BAD_SEEK',
  Canceled: 'SCARD_E_CANCELLED',
  Cancelled: 'SCARD_E_CANCELLED',
  CantDispose: 'SCARD_E_CANT_DISPOSE',
  CardUnsupported: 'SCARD_E_CARD_UNSUPPORTED',
  CertificateUnavailable: 'SCARD_E_CERTIFICATE_UNAVAILABLE',
  CommDataLost: 'SCARD_E_COMM_DATA_LOST',
  DirNotFound: 'SCARD_E_DIR_NOT_FOUND',
  DuplicateReader: 'SCARD_E_DUPLICATE_READER',
  FileNotFound: 'SCARD_E_FILE_NOT_FOUND',
  IccCreateOrder: 'SCARD_E_ICC_CREATEORDER',
  IccInstallation: 'SCARD_E_ICC_INSTALLATION',
  InsufficientBuffer: 'SCARD_E_INSUFFICIENT_BUFFER',
  InvalidAtr: 'SCARD_E_INVALID_ATR',
  InvalidChv: 'SCARD_E_INVALID_CHV',
  InvalidHandle: 'SCARD_E_INVALID_HANDLE',
  InvalidParameter: 'SCARD_E_INVALID_PARAMETER',
  InvalidTarget: 'SCARD_E_INVALID_TARGET',
  InvalidValue: 'SCARD_E_INVALID_VALUE',
  NoAccess: 'SCARD_E_NO_ACCESS',
  NoDir: 'SCARD_E_NO_DIR',
  NoFile: 'SCARD_E_NO_FILE',
  NoKeyContainer: 'SCARD_E_NO_KEY_CONTAINER',
  NoMemory: 'SCARD_E_NO_MEMORY',
  NoReadersAvailable: 'SCARD_E_NO_READERS_AVAILABLE',
  NoService: 'SCARD_E_NO_SERVICE',
  NoSmartCard: 'SCARD_E_NO_SMARTCARD',
  NoSuchCertificate: 'SCARD_E_NO_SUCH_CERTIFICATE',
  NotReady: 'SCARD_E_NOT_READY',
  NotTransacted: 'SCARD_E_NOT_TRANSACTED',
  PciTooSmall: 'SCARD_E_PCI_TOO_SMALL',
  ProtoMismatch: 'SCARD_E_PROTO_MISMATCH',
  ReaderUnavailable: 'SCARD_E_READER_UNAVAILABLE',
  ReaderUnsupported: 'SCARD_E_READER_UNSUPPORTED',
  ServerTooBusy: 'SCARD_E_SERVER_TOO_BUSY',
  ServiceStopped: 'SCARD_E_SERVICE_STOPPED',
  SharingViolation: 'SCARD_E_SHARING_VIOLATION',
  SystemCancelled: 'SCARD_E_SYSTEM_CANCELLED',
  Timeout: 'SCARD_E_TIMEOUT',
  Unexpected: 'SCARD_E_UNEXPECTED',
  UnknownCard: 'SCARD_E_UNKNOWN_CARD',
  UnknownReader: 'SCARD_E_UNKNOWN_READER',
  UnknownResMng: 'SCARD_E_UNKNOWN_RES_MNG',
  UnsupportedFeature: 'SCARD_E_UNSUPPORTED_FEATURE',
  WriteTooMany: 'SCARD_E_WRITE_TOO_MANY',
  CommError: 'SCARD_F_COMM_ERROR',
  InternalError: 'SCARD_F_INTERNAL_ERROR',
  UnknownError: 'SCARD_F_UNKNOWN_ERROR',
  WaitedTooLong: 'SCARD_F_WAITED_TOO_LONG',
  Shutdown: 'SCARD_P_SHUTDOWN',
  CancelledByUser: 'SCARD_W_CANCELLED_BY_USER',
  CardNotAuthenticated: 'SCARD_W_CARD_NOT_AUTHENTICATED',
  ChvBlocked: 'SCARD_W_CHV_BLOCKED',
  EndOfStream: 'SCARD_W_EOF',
  RemovedCard: 'SCARD_W_REMOVED_CARD',
  ResetCard: 'SCARD_W_RESET_CARD',
  SecurityViolation: 'SCARD_W_SECURITY_VIOLATION',
  UnpoweredCard: 'SCARD_W_UNPOWERED_CARD',
  UnresponsiveCard: 'SCARD_W_UNRESPONSIVE_CARD',
  UnsupportedCard: 'SCARD_W_UNSUPPORTED_CARD',
  WrongChv: 'SCARD_W_WRONG_CHV',
  // pcsc-mini's own conditions
  TooManyCardConnections: 'SCARD_E_NO_MEMORY',
  TooManyConnectRequests: 'SCARD_E_SERVER_TOO_BUSY',
  StatusEventBufferOverflow: 'SCARD_E_NO_MEMORY',
  AsyncWorkCancelled: 'SCARD_E_CANCELLED',
};

/** Wraps anything pcsc-mini threw into a PcscError (the original as `cause`). */
export function fromMiniError(e: unknown, what: string, reader?: string): PcscError {
  if (isPcscError(e)) return e;
  const raw = typeof e === 'object' && e !== null ? (e as { code?: unknown }).code : undefined;
  const bindingCode = typeof raw === 'string' ? raw : undefined;
  const mapped = bindingCode === undefined ? undefined : MINI_CODES[bindingCode];
  const sourceCode: PcscCode =
    mapped ??
    (bindingCode !== undefined && isPcscCode(bindingCode) ? bindingCode : 'SCARD_F_UNKNOWN_ERROR');
  const opts = { cause: e, ...(bindingCode === undefined ? {} : { bindingCode }) };
  return new PcscError(sourceCode, `${what} failed${reader === undefined ? '' : ` (${reader})`}`, {
    ...opts,
    ...(reader === undefined ? {} : { reader }),
  });
}
