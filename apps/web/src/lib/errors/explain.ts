/**
 * The page's side of the one error vocabulary: what the page knows about a failure becomes a
 * failure of @cardlend/problems (with the code it came with), and the catalog's words come
 * back for the page and the detected OS. No text lives here. Pure: no DOM, no I/O.
 */
import {
  explain,
  failureFromCode,
  failureFromState,
  osFamilyFromUserAgent,
  type Explanation,
  type Failure as SourceFailure,
  type OsFamily,
} from '@cardlend/problems';

export type { Explanation, Fix, OsFamily } from '@cardlend/problems';

/**
 * What went wrong, as the page tells it: a failure with its source code (@cardlend/problems),
 * or one of the page's older shorthands below, which name the same sources.
 */
export type Failure =
  | SourceFailure
  | { kind: 'no-webusb'; isSecureContext: boolean }
  | { kind: 'usb-not-allowed' }
  | { kind: 'chooser-cancelled' }
  /** A reader or card error; `code` is a `CcidError` code such as `CCID_DEVICE_BUSY`. */
  | { kind: 'reader'; code: string; vendorId?: number; productId?: number }
  /** The relay closed the WebSocket with this close code (see `RelayClose`). */
  | { kind: 'relay-closed'; closeCode: number }
  | { kind: 'relay-unreachable' }
  | { kind: 'atr-refused' }
  | { kind: 'vm-not-answering' }
  | { kind: 'no-websocket' }
  | { kind: 'relay-url-invalid'; reason: string }
  | { kind: 'token-invalid'; reason: string }
  | { kind: 'unexpected'; code?: string };

type Shorthand = Exclude<Failure, SourceFailure>;

/** Shorthands for what the bridge detects → its code. */
const BRIDGE_SHORTHANDS = {
  'relay-unreachable': 'BRIDGE_RELAY_UNREACHABLE',
  'atr-refused': 'BRIDGE_ATR_REFUSED',
  'vm-not-answering': 'BRIDGE_VM_NOT_ANSWERING',
} as const;

function fromShorthand(f: Shorthand): SourceFailure {
  switch (f.kind) {
    case 'no-webusb':
      return { kind: 'page', code: f.isSecureContext ? 'no-webusb' : 'insecure-context' };
    case 'reader':
      return { ...f, kind: 'ccid' };
    case 'relay-closed':
      return { kind: 'relay-close', code: f.closeCode };
    case 'relay-url-invalid':
    case 'token-invalid':
      return { kind: 'page', code: f.kind, reason: f.reason };
    case 'unexpected':
      return f.code === undefined ? { kind: 'unknown' } : { kind: 'unknown', code: f.code };
    case 'relay-unreachable':
    case 'atr-refused':
    case 'vm-not-answering':
      return { kind: 'bridge', code: BRIDGE_SHORTHANDS[f.kind] };
    default:
      // usb-not-allowed, chooser-cancelled, no-websocket: conditions of the same name.
      return { kind: 'page', code: f.kind };
  }
}

const SOURCE_KINDS: ReadonlySet<string> = new Set<SourceFailure['kind']>([
  'ccid',
  'relay-close',
  'vscard',
  'pcsc',
  'helper',
  'bridge',
  'page',
  'unknown',
]);

function isSourceFailure(f: Failure): f is SourceFailure {
  return SOURCE_KINDS.has(f.kind);
}

/**
 * Explain a failure for the page. Steps for `os` come first, then steps for everyone; steps
 * for other systems are kept apart (the page shows them folded). With `os` unknown, every
 * OS-specific step is listed after the general ones.
 */
export function explainFailure(f: Failure, os: OsFamily = 'other'): Explanation {
  return explain(isSourceFailure(f) ? f : fromShorthand(f), { os, client: 'page' });
}

/** Guess the OS from a user-agent string (only to order the fixes; never to hide any). */
export const detectOs: (userAgent: string) => OsFamily = osFamilyFromUserAgent;

function field(e: unknown, name: string): unknown {
  return typeof e === 'object' && e !== null ? (e as Record<string, unknown>)[name] : undefined;
}

/** A `source` an error carries (BridgeError), when it has the shape of one. */
function sourceOf(e: unknown): SourceFailure | null {
  const source = field(e, 'source');
  const kind = field(source, 'kind');
  const code = field(source, 'code');
  const isShaped =
    typeof kind === 'string' &&
    SOURCE_KINDS.has(kind) &&
    kind !== 'page' &&
    (typeof code === 'string' || typeof code === 'number');
  return isShaped ? (source as SourceFailure) : null;
}

/**
 * Classify something thrown while choosing, opening or lending a reader, keeping its source
 * code. An error that carries its source (BridgeError) is explained by it; library errors are
 * told apart by their `code` (CcidError codes start with `CCID_`), browser errors by their
 * DOMException `name`. Never looks at message text.
 */
export function classifyError(
  e: unknown,
  device?: { vendorId: number; productId: number },
): SourceFailure {
  const source = sourceOf(e);
  if (source !== null) return source;
  const code = field(e, 'code');
  if (typeof code === 'string' && code.startsWith('CCID_')) {
    return device === undefined
      ? { kind: 'ccid', code }
      : { kind: 'ccid', code, vendorId: device.vendorId, productId: device.productId };
  }
  if (typeof code === 'string' && code.startsWith('BRIDGE_')) {
    const closeCode = field(e, 'closeCode');
    return failureFromLinkError(code, typeof closeCode === 'number' ? closeCode : undefined);
  }
  switch (field(e, 'name')) {
    case 'NotFoundError':
      // requestDevice: the chooser was closed without a choice.
      return { kind: 'page', code: 'chooser-cancelled' };
    case 'SecurityError':
      // requestDevice outside a user gesture or blocked by Permissions-Policy.
      return { kind: 'page', code: 'usb-not-allowed' };
    default:
      return typeof code === 'string' ? failureFromCode(code) : { kind: 'unknown' };
  }
}

/**
 * Classify an error the bridge reports in its state (`BridgeState.error`, with its `source`
 * when it carries one, plus the relay's close code when there was one). The source wins; a
 * relay close code we know wins over a bridge code that only renames it; other codes keep
 * their own family (CCID, VSCard, PC/SC, bridge).
 */
export function failureFromLinkError(
  code: string,
  closeCode?: number,
  source?: SourceFailure,
): SourceFailure {
  return failureFromState(source === undefined ? { code } : { code, source }, closeCode);
}
