/**
 * Command line → plan: what the command should do, decided without any I/O (node:util
 * parseArgs). The runner (main.ts) carries the plan out.
 */
import { parseArgs } from 'node:util';
import { parseLink } from './link.ts';
import type { LendTarget, LinkProblem } from './link.ts';

/** The plan of `cardlend lend`. */
export type LendPlan = Extract<Plan, { kind: 'lend' }>;

/** How the announced ATR is chosen (the bridge's `t0Compat`; QEMU 7.2's reader speaks T=0 only). */
export type T0Compat = 'auto' | 'always' | 'never';

export type Plan =
  | { readonly kind: 'help'; readonly topic: 'main' | 'readers' | 'lend' }
  | { readonly kind: 'version' }
  | { readonly kind: 'readers'; readonly json: boolean }
  | {
      readonly kind: 'lend';
      readonly target: LendTarget;
      /** `--reader`: a part of the reader's name, case-insensitive. */
      readonly readerQuery: string | null;
      /** `--yes`: no consent prompt. */
      readonly yes: boolean;
      /** `--json`: JSON events on stdout, one a line. */
      readonly json: boolean;
      readonly t0Compat: T0Compat;
    }
  /** `cardlend serve …`: the local helper parses its own options (serve/args.ts). */
  | { readonly kind: 'serve'; readonly argv: readonly string[] }
  /** The link or token cannot be used: explain it (the page's words), exit 2. */
  | { readonly kind: 'link-error'; readonly problem: LinkProblem }
  /** Bad command line: print `message` and the topic's usage, exit 2. */
  | {
      readonly kind: 'usage-error';
      readonly message: string;
      readonly topic: 'main' | 'readers' | 'lend';
    };

export const MAIN_USAGE = `Usage: cardlend <command> [options]

Lends the smart card in a reader of this computer (any reader the operating system's
smart-card service knows) to a remote QEMU virtual machine, through a cardlend relay.

Commands:
  readers [--json]                    list readers, their card state and ATR
  lend <link> [--reader NAME] [--yes] [--json] [--token TOKEN] [--t0-compat MODE]
                                      lend a card until Ctrl-C
  serve [--listen 127.0.0.1:PORT] [--allow-origin ORIGIN]...
                                      let pages you approve use this computer's readers

Options:
  -h, --help       show help (cardlend <command> --help for a command)
  -v, --version    print the version
`;

export const READERS_USAGE = `Usage: cardlend readers [--json]

One reader a line: name, card state (card, no card, in use, …) and the card's ATR.
  --json    one JSON document: {"readers":[{"name","state","atr"}]}
`;

export const LEND_USAGE = `Usage: cardlend lend <link> [options]

<link> is the link you were sent (https://relay.example/#token=…) or the relay's address
(wss://relay.example/vscard). Before lending, cardlend names the reader, the card and the VM
and asks you to confirm. Stop lending with Ctrl-C: the VM sees the card removed.

  --reader NAME      the reader whose name contains NAME (case-insensitive); default: the one
                     reader holding a card
  -y, --yes          lend without asking (needed when there is no terminal to ask in)
  --json             JSON events on stdout, one a line (state, apdu, end)
  --token TOKEN      session token, instead of the one in the link
  --t0-compat MODE   auto (default): show a T=1-only card to the VM with an ATR that also
                     offers T=0 (QEMU 7.2's reader speaks T=0 only); always; never
`;

/** The usage text of a topic. */
export function usageText(topic: 'main' | 'readers' | 'lend'): string {
  return topic === 'readers' ? READERS_USAGE : topic === 'lend' ? LEND_USAGE : MAIN_USAGE;
}

const T0_MODES: readonly string[] = ['auto', 'always', 'never'];

function parseReaders(args: string[]): Plan {
  const { values, positionals } = parseArgs({
    args,
    options: { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
    allowPositionals: true,
  });
  if (values.help === true) return { kind: 'help', topic: 'readers' };
  if (positionals.length > 0)
    return {
      kind: 'usage-error',
      message: `readers takes no arguments, got "${positionals.join(' ')}"`,
      topic: 'readers',
    };
  return { kind: 'readers', json: values.json === true };
}

function parseLend(args: string[]): Plan {
  const { values, positionals } = parseArgs({
    args,
    options: {
      reader: { type: 'string' },
      yes: { type: 'boolean', short: 'y' },
      json: { type: 'boolean' },
      token: { type: 'string' },
      't0-compat': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: true,
  });
  if (values.help === true) return { kind: 'help', topic: 'lend' };
  const usage = (message: string): Plan => ({ kind: 'usage-error', message, topic: 'lend' });
  if (positionals.length === 0) return usage('lend needs the link you were sent');
  if (positionals.length > 1)
    return usage(`lend takes one link, got ${positionals.length} arguments`);
  const t0 = values['t0-compat'] ?? 'auto';
  if (!T0_MODES.includes(t0))
    return usage(`--t0-compat must be auto, always or never, got "${t0}"`);
  const reader = values.reader?.trim();
  if (reader === '') return usage('--reader needs a part of the reader name');
  const link = parseLink(positionals[0] ?? '', values.token);
  if (!link.ok) return { kind: 'link-error', problem: link.problem };
  return {
    kind: 'lend',
    target: link.target,
    readerQuery: reader ?? null,
    yes: values.yes === true,
    json: values.json === true,
    t0Compat: t0 as T0Compat,
  };
}

/** Turns `argv` (without node and the script) into a plan. Never throws. */
export function planFromArgs(argv: readonly string[]): Plan {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case undefined:
        return { kind: 'help', topic: 'main' };
      case '-h':
      case '--help':
      case 'help':
        return {
          kind: 'help',
          topic: rest[0] === 'lend' || rest[0] === 'readers' ? rest[0] : 'main',
        };
      case '-v':
      case '--version':
      case 'version':
        return { kind: 'version' };
      case 'readers':
        return parseReaders(rest);
      case 'lend':
        return parseLend(rest);
      case 'serve':
        return { kind: 'serve', argv: rest };
      default:
        return { kind: 'usage-error', message: `unknown command "${command}"`, topic: 'main' };
    }
  } catch (e) {
    // parseArgs throws TypeError with a readable message (unknown option, missing value).
    const topic = command === 'lend' || command === 'readers' ? command : 'main';
    return { kind: 'usage-error', message: (e as Error).message, topic };
  }
}
