/**
 * What `cardlend lend <link>` reads from its link: the relay's WebSocket address and the
 * session token. Pure.
 *
 * A link is what the relay's token minting prints (apps/relay/src/cli/mint-token.ts): the
 * page URL with the token in its fragment, `https://relay.example/#token=v1.…`, maybe with a
 * `relay=` parameter naming another relay address (the page reads the same,
 * apps/web/src/lib/state/launch-params.ts). A relay address works too:
 * `wss://relay.example/vscard` (the token then comes from `--token`, or the fragment).
 *
 * - `http(s)://host[:port]/…`: the page; the relay is `ws(s)://host[:port]/vscard` (what the
 *   page itself would use), unless the path already ends with `/vscard`.
 * - `ws(s)://host[:port][/path]`: the relay itself; an empty path becomes `/vscard`.
 * - `relay=` (query or fragment) overrides the address; `token=` in the fragment wins over the
 *   query; `--token` wins over both.
 */
import { RELAY_PATH } from '@cardlend/vscard';

/** Where to lend: the relay's WebSocket URL and the token ('' = none). */
export interface LendTarget {
  /** `ws://…` or `wss://…`, path ending in the relay's path (usually `/vscard`). */
  readonly relayUrl: string;
  /** Session token, '' when the relay needs none. */
  readonly token: string;
  /** Where the token came from. */
  readonly tokenSource: 'link' | 'option' | 'none';
}

/** Why a link cannot be used; the text is for people. */
export interface LinkProblem {
  readonly code: 'link-empty' | 'link-not-url' | 'link-scheme' | 'link-credentials' | 'token-chars';
  readonly message: string;
}

export type LinkResult =
  | { readonly ok: true; readonly target: LendTarget }
  | { readonly ok: false; readonly problem: LinkProblem };

/** Characters a token may have: it travels as a WebSocket subprotocol (RFC 6455 §4.1). */
const TOKEN_PATTERN = /^[A-Za-z0-9._~-]*$/;

const fail = (code: LinkProblem['code'], message: string): LinkResult => ({
  ok: false,
  problem: { code, message },
});

function params(url: URL): { query: URLSearchParams; fragment: URLSearchParams } {
  const hash = url.hash.startsWith('#') ? url.hash.slice(1) : url.hash;
  return { query: url.searchParams, fragment: new URLSearchParams(hash) };
}

/** The relay address a URL names (a page URL maps to its own relay), or a problem. */
function relayAddress(url: URL): { ok: true; url: string } | { ok: false; problem: LinkProblem } {
  if (url.username !== '' || url.password !== '')
    return {
      ok: false,
      problem: {
        code: 'link-credentials',
        message: 'The link carries a user name or password; put the token in --token instead.',
      },
    };
  if (url.hostname === '')
    return { ok: false, problem: { code: 'link-not-url', message: 'The link has no host name.' } };
  const isPage = url.protocol === 'http:' || url.protocol === 'https:';
  const isSecure = url.protocol === 'https:' || url.protocol === 'wss:';
  const scheme = isSecure ? 'wss:' : 'ws:';
  let path = url.pathname.replace(/\/+$/, '');
  if (isPage) {
    // The page's relay is its own origin + /vscard, unless the link is the relay address itself.
    if (!path.endsWith(RELAY_PATH)) path = RELAY_PATH;
  } else if (path === '') {
    path = RELAY_PATH;
  }
  return { ok: true, url: `${scheme}//${url.host}${path}` };
}

function parseUrl(text: string): URL | null {
  try {
    return new URL(text);
  } catch {
    return null;
  }
}

const SCHEMES = new Set(['http:', 'https:', 'ws:', 'wss:']);

/** Reads `relay=` (query first, then fragment) relative to the link, or returns the link's own. */
function pickRelay(
  url: URL,
  query: URLSearchParams,
  fragment: URLSearchParams,
): ReturnType<typeof relayAddress> {
  const relayParam = query.get('relay') ?? fragment.get('relay');
  if (relayParam === null || relayParam.trim() === '') return relayAddress(url);
  const text = relayParam.trim();
  const pageScheme = url.protocol === 'https:' || url.protocol === 'wss:' ? 'wss:' : 'ws:';
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `${pageScheme}//${text}`;
  const relay = parseUrl(withScheme);
  if (relay === null || !SCHEMES.has(relay.protocol))
    return {
      ok: false,
      problem: {
        code: 'link-scheme',
        message: `The link's relay= address "${text}" must start with wss:// (or ws:// on a test machine).`,
      },
    };
  return relayAddress(relay);
}

/**
 * Reads a link (and the `--token` option) into a {@link LendTarget}. Never throws.
 * @param tokenOption the `--token` value, when given.
 */
export function parseLink(link: string, tokenOption?: string): LinkResult {
  const text = link.trim();
  if (text === '')
    return fail('link-empty', 'Give the link you were sent (it starts with https://).');
  const url = parseUrl(text);
  if (url === null || !/^[a-z][a-z0-9+.-]*:\/\//i.test(text))
    return fail(
      'link-not-url',
      'This does not look like a link: it should start with https:// (or wss://).',
    );
  if (!SCHEMES.has(url.protocol))
    return fail(
      'link-scheme',
      `A link starting with ${url.protocol}// cannot be used: use the https:// link you were sent, or the relay's wss:// address.`,
    );
  const { query, fragment } = params(url);
  const relay = pickRelay(url, query, fragment);
  if (!relay.ok) return { ok: false, problem: relay.problem };
  const fromLink = fragment.get('token') ?? query.get('token');
  const raw = tokenOption ?? fromLink ?? '';
  const token = raw.trim();
  if (!TOKEN_PATTERN.test(token))
    return fail(
      'token-chars',
      'The token may contain only letters, digits and . _ ~ - (copy it again from the message you got).',
    );
  const tokenSource = token === '' ? 'none' : tokenOption !== undefined ? 'option' : 'link';
  return { ok: true, target: { relayUrl: relay.url, token, tokenSource } };
}
