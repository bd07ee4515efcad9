/**
 * Mints a session token for a helpdesk backend (issue 6, "Access control"):
 *
 * ```
 * tsx src/cli/mint-token.ts --secret-file /etc/cardlend/token-secret --target vm-42 --ttl 600 \
 *   [--reusable] [--base-url https://relay.example.com/]
 * ```
 *
 * Prints the token on the first line and the link to open on the second. The token rides
 * in the link's fragment (`#token=`), which browsers never send to servers, so it stays
 * out of access logs. Exit codes: 0 ok, 2 usage or input error.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import {
  mintToken,
  parseSecret,
  MAX_TOKEN_TTL_SECONDS,
  TARGET_ID_PATTERN,
} from '../auth/tokens.ts';

/** Default lifetime of a minted token, seconds. */
export const DEFAULT_MINT_TTL_SECONDS = 600;

/** Default page the link points to: the relay's defaults (contracts.md). */
export const DEFAULT_BASE_URL = 'http://127.0.0.1:8080/';

const HELP = `Usage: mint-token --secret-file FILE --target ID [--ttl SECONDS] [--reusable] [--base-url URL]

Mints a signed, expiring cardlend session token and prints it, then a link to open.

  --secret-file FILE  file holding the HMAC secret shared with the relay (>= 32 bytes;
                      surrounding whitespace ignored; e.g. openssl rand -base64 48 > FILE)
  --target ID         target id of the VM, as named in the relay's config (${String(TARGET_ID_PATTERN)})
  --ttl SECONDS       lifetime, 1..${MAX_TOKEN_TTL_SECONDS} (default ${DEFAULT_MINT_TTL_SECONDS})
  --reusable          allow reconnects until expiry (one live session at a time);
                      default: the token opens exactly one session
  --base-url URL      the relay's page (default ${DEFAULT_BASE_URL})
  -h, --help          show this help
`;

/** Result of {@link runMintToken}: what to print and the exit code. */
export interface MintTokenRun {
  readonly exitCode: 0 | 2;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the CLI on `argv` (without node and script); pure apart from reading the secret file. */
export function runMintToken(argv: readonly string[], nowMs: number = Date.now()): MintTokenRun {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        'secret-file': { type: 'string' },
        target: { type: 'string' },
        ttl: { type: 'string' },
        reusable: { type: 'boolean' },
        'base-url': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    return { exitCode: 2, stdout: '', stderr: `${(e as Error).message}\n\n${HELP}` };
  }
  if (values.help === true) return { exitCode: 0, stdout: HELP, stderr: '' };
  const fail = (message: string): MintTokenRun => ({
    exitCode: 2,
    stdout: '',
    stderr: `mint-token: ${message}\n`,
  });
  if (values['secret-file'] === undefined) return fail('--secret-file is required (see --help)');
  if (values.target === undefined) return fail('--target is required (see --help)');
  const ttlText = values.ttl ?? String(DEFAULT_MINT_TTL_SECONDS);
  if (!/^[0-9]{1,9}$/.test(ttlText))
    return fail(`--ttl must be a whole number of seconds, got "${ttlText}"`);
  let base: URL;
  try {
    base = new URL(values['base-url'] ?? DEFAULT_BASE_URL);
  } catch {
    return fail('--base-url is not a valid URL');
  }
  if (base.protocol !== 'https:' && base.protocol !== 'http:')
    return fail('--base-url must be http(s)');
  let secret: Uint8Array;
  try {
    secret = parseSecret(readFileSync(values['secret-file']));
  } catch (e) {
    return fail(`cannot use secret file ${values['secret-file']}: ${(e as Error).message}`);
  }
  let token: string;
  try {
    token = mintToken({
      secret,
      targetId: values.target,
      ttlSeconds: Number(ttlText),
      nowMs,
      isOneTime: values.reusable !== true,
    });
  } catch (e) {
    return fail((e as Error).message);
  }
  base.hash = `token=${token}`;
  return { exitCode: 0, stdout: `${token}\n${base.href}\n`, stderr: '' };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const run = runMintToken(process.argv.slice(2));
  process.stdout.write(run.stdout);
  process.stderr.write(run.stderr);
  process.exitCode = run.exitCode;
}
