/**
 * `cardlend serve` command line → plan. Pure (node:util parseArgs only).
 */
import { parseArgs } from 'node:util';
import { HELPER_DEFAULT_PORT, HELPER_PATH, parseOrigin } from '@cardlend/helper-protocol';
import type { LoopbackHost } from './options.ts';

export const SERVE_USAGE = `Usage: cardlend serve [--listen 127.0.0.1:PORT] [--allow-origin ORIGIN]...
       cardlend serve --list-origins
       cardlend serve --revoke ORIGIN

Lets web pages you approve use this computer's smart-card readers (every reader the
operating system's smart-card service knows), so a cardlend page can lend a card from them.
The page talks to this helper on ws://127.0.0.1:${HELPER_DEFAULT_PORT}${HELPER_PATH} (this
computer only; never a network address). Stop with Ctrl-C.

A page you have not approved gets nothing but "not approved". When a page asks, this terminal
shows its address and a 6-digit code the page shows too; answer y only if you opened that page
and the codes match. Approvals are remembered (--list-origins shows them, --revoke forgets one).

  --listen HOST:PORT     127.0.0.1 (default) or [::1], port (default ${HELPER_DEFAULT_PORT})
  --allow-origin ORIGIN  approve this page origin (e.g. https://lend.example.org) while this
                         helper runs, without asking (what an administrator deploys); repeatable
  --list-origins         print the remembered approvals and exit
  --revoke ORIGIN        forget the approval of ORIGIN and exit
`;

export type ServePlan =
  | { readonly kind: 'help' }
  | { readonly kind: 'usage-error'; readonly message: string }
  | { readonly kind: 'list-origins' }
  | { readonly kind: 'revoke'; readonly origin: string }
  | {
      readonly kind: 'serve';
      readonly host: LoopbackHost;
      readonly port: number;
      readonly allowOrigins: readonly string[];
    };

/** Parses `--listen`: a loopback address and a port; anything else is refused. */
export function parseListen(text: string): { host: LoopbackHost; port: number } | string {
  const m = /^(127\.0\.0\.1|localhost|\[::1\]):([0-9]{1,5})$/.exec(text.trim());
  if (m === null)
    return `--listen must be 127.0.0.1:PORT or [::1]:PORT (this computer only), got "${text}"`;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return `--listen port must be 1..65535, got ${m[2]}`;
  return { host: m[1] === '[::1]' ? '::1' : '127.0.0.1', port };
}

function origin(text: string, option: string): string | { error: string } {
  const o = parseOrigin(text.trim());
  if (o === null)
    return { error: `${option} needs a page origin like https://lend.example.org, got "${text}"` };
  return o.text;
}

/** `argv` after `serve` → plan. Never throws. */
export function planServe(argv: readonly string[]): ServePlan {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        listen: { type: 'string' },
        'allow-origin': { type: 'string', multiple: true },
        'list-origins': { type: 'boolean' },
        revoke: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    return { kind: 'usage-error', message: (e as Error).message };
  }
  if (values.help === true) return { kind: 'help' };
  if (values['list-origins'] === true) return { kind: 'list-origins' };
  if (values.revoke !== undefined) {
    const o = origin(values.revoke, '--revoke');
    return typeof o === 'string'
      ? { kind: 'revoke', origin: o }
      : { kind: 'usage-error', message: o.error };
  }
  const listen = parseListen(values.listen ?? `127.0.0.1:${HELPER_DEFAULT_PORT}`);
  if (typeof listen === 'string') return { kind: 'usage-error', message: listen };
  const allowOrigins: string[] = [];
  for (const text of values['allow-origin'] ?? []) {
    const o = origin(text, '--allow-origin');
    if (typeof o !== 'string') return { kind: 'usage-error', message: o.error };
    allowOrigins.push(o);
  }
  return { kind: 'serve', ...listen, allowOrigins };
}
