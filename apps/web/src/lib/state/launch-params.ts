/**
 * What the page reads from its own URL. A helpdesk sends a link such as
 * `https://relay.example/?relay=wss://relay.example/vscard#token=abc`; the person only clicks.
 *
 * Parameters (all optional):
 * - `relay`: WebSocket address of the relay (`ws:`/`wss:`; `http(s):` is converted; a bare
 *   `host:port` gets the page's scheme). Default: this page's origin + `/vscard`.
 * - `token`: session token, in the query or (preferred, never sent to servers) in the fragment.
 * - `demo`: which simulated reader "Try a virtual card" uses (see {@link DEMO_PROFILES});
 *   meant for demos and end-to-end tests.
 */
import { RELAY_PATH } from '@cardlend/vscard';

/** Simulated readers selectable with `?demo=`. */
export const DEMO_PROFILES = {
  /** Default: a vendor-class (0xFF) CCID reader, which Chrome lets pages use. */
  vendorClass: { label: 'Virtual vendor-class reader', isProtectedClass: false, isHeld: false },
  /** A standard smart-card-class (0x0B) reader, with Chrome's block emulated. */
  protectedClass: {
    label: 'Virtual smart-card-class reader',
    isProtectedClass: true,
    isHeld: false,
  },
  /** A vendor-class reader that another program holds (like pcscd). */
  heldByOtherProgram: {
    label: 'Virtual reader held by another program',
    isProtectedClass: false,
    isHeld: true,
  },
} as const;

export type DemoProfileId = keyof typeof DEMO_PROFILES;

export function isDemoProfileId(value: string): value is DemoProfileId {
  return Object.hasOwn(DEMO_PROFILES, value);
}

export interface LaunchParams {
  /** Normalised relay address, ready for `new WebSocket`. */
  relayUrl: string;
  /** Session token ('' when none was given). */
  token: string;
  /** Simulated reader for "Try a virtual card". */
  demo: DemoProfileId;
  /**
   * Set when the URL's `relay` parameter could not be used. `relayUrl` then keeps the
   * parameter as given, so lending is refused with this reason: never a silent fallback to
   * the page's own relay (and its VM).
   */
  relayProblem: string | null;
}

/** Characters allowed in a token: it travels as a WebSocket subprotocol (RFC 6455 §4.1, RFC 7230 token). */
const TOKEN_PATTERN = /^[A-Za-z0-9._~-]*$/;

export type RelayUrlResult = { ok: true; url: string } | { ok: false; reason: string };

/** Turn what a person typed into a WebSocket URL, relative to the page's own address. */
export function normalizeRelayUrl(input: string, pageUrl: string): RelayUrlResult {
  const page = new URL(pageUrl);
  const wsScheme = page.protocol === 'https:' ? 'wss:' : 'ws:';
  const text = input.trim();
  if (text === '') return { ok: false, reason: 'Enter the relay address you were given.' };
  let candidate = text;
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(candidate)) candidate = `${wsScheme}//${candidate}`;
  let url: URL;
  try {
    url = new URL(candidate);
  } catch {
    return { ok: false, reason: 'This does not look like a web address.' };
  }
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    return {
      ok: false,
      reason: 'The relay address must start with wss:// (or ws:// on a test machine).',
    };
  }
  if (url.hostname === '') return { ok: false, reason: 'The relay address has no host name.' };
  if (url.username !== '' || url.password !== '') {
    return { ok: false, reason: 'Put the token in the token field, not in the address.' };
  }
  if (url.pathname === '' || url.pathname === '/') url.pathname = RELAY_PATH;
  url.hash = '';
  return { ok: true, url: url.toString() };
}

/** Check a token as typed; returns the trimmed token or why it cannot be used. */
export function normalizeToken(
  input: string,
): { ok: true; token: string } | { ok: false; reason: string } {
  const token = input.trim();
  if (!TOKEN_PATTERN.test(token)) {
    return {
      ok: false,
      reason:
        'The token may contain only letters, digits and . _ ~ - (copy it again from the message you got).',
    };
  }
  return { ok: true, token };
}

/** The relay address used when the URL names none: this page's origin, path `/vscard`. */
export function defaultRelayUrl(pageUrl: string): string {
  const page = new URL(pageUrl);
  const scheme = page.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${page.host}${RELAY_PATH}`;
}

/** Read the launch parameters from the page address (`location.href`). Never throws. */
export function parseLaunchParams(pageUrl: string): LaunchParams {
  const page = new URL(pageUrl);
  const query = page.searchParams;
  const fragment = new URLSearchParams(page.hash.startsWith('#') ? page.hash.slice(1) : page.hash);

  let relayUrl = defaultRelayUrl(pageUrl);
  let relayProblem: string | null = null;
  const relayParam = query.get('relay');
  if (relayParam !== null) {
    const result = normalizeRelayUrl(relayParam, pageUrl);
    if (result.ok) relayUrl = result.url;
    else {
      relayUrl = relayParam;
      relayProblem = result.reason;
    }
  }

  const tokenParam = fragment.get('token') ?? query.get('token') ?? '';
  const token = normalizeToken(tokenParam);

  const demoParam = query.get('demo') ?? '';
  const demo: DemoProfileId = isDemoProfileId(demoParam) ? demoParam : 'vendorClass';

  return { relayUrl, token: token.ok ? token.token : '', demo, relayProblem };
}
