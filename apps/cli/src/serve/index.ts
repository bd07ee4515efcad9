/**
 * `cardlend serve`: the local helper. Parses its options, manages the remembered approvals
 * (`--list-origins`, `--revoke`), or runs the helper server until Ctrl-C / SIGTERM.
 */
import { CARDLEND_VERSION } from '../version.ts';
import { ExitCode } from '../outcome.ts';
import type { CliDeps, ReaderService } from '../ports.ts';
import { ApprovalStore, approvalsPath } from './approvals.ts';
import { planServe, SERVE_USAGE } from './args.ts';
import type { ServePlan } from './args.ts';
import { Pairing } from './pairing.ts';
import { startHelperServer } from './server.ts';
import type { HelperServer } from './server.ts';

export type { HelperServer } from './server.ts';

/** What `serve` needs beyond the CLI's own dependencies. */
export interface ServeEnv {
  /** Environment variables (config directory). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Called once the helper listens (tests learn the port). */
  readonly onListening?: (server: HelperServer) => void;
}

/** Opens the reader service once and keeps it; a failure is retried at the next request. */
function lazyService(open: () => Promise<ReaderService>): () => Promise<ReaderService> {
  let opened: Promise<ReaderService> | null = null;
  return () => {
    opened ??= open().catch((e: unknown) => {
      opened = null;
      throw e;
    });
    return opened;
  };
}

function listOrigins(store: ApprovalStore, deps: CliDeps): ExitCode {
  const list = store.list();
  if (list.length === 0) deps.output.out(`No page is approved (${store.path}).\n`);
  for (const a of list) deps.output.out(`${a.origin}  approved ${a.approvedAt}\n`);
  return ExitCode.Ok;
}

async function serve(
  plan: Extract<ServePlan, { kind: 'serve' }>,
  store: ApprovalStore,
  deps: CliDeps,
  senv: ServeEnv,
): Promise<ExitCode> {
  const service = lazyService(deps.readers);
  let server: HelperServer;
  try {
    server = await startHelperServer({
      host: plan.host,
      port: plan.port,
      service,
      approvals: store,
      pairing: new Pairing(deps.prompter),
      helperName: `cardlend ${CARDLEND_VERSION}`,
      now: deps.now,
      log: (line) => deps.output.err(`cardlend serve: ${line}\n`),
    });
  } catch (e) {
    const code = (e as { code?: string }).code;
    deps.output.err(
      code === 'EADDRINUSE'
        ? `cardlend serve: port ${plan.port} is in use (another helper already running?)\n`
        : `cardlend serve: cannot listen: ${(e as Error).message}\n`,
    );
    return ExitCode.Failed;
  }
  const approved = [...store.preApproved, ...store.list().map((a) => a.origin)];
  deps.output.err(
    `cardlend serve: pages you approve can use this computer's smart-card readers.\n` +
      `  listening on ${server.url} (this computer only)\n` +
      `  approved pages: ${approved.length === 0 ? 'none yet (a page asks here)' : approved.join(', ')}\n` +
      (deps.prompter === null
        ? '  no terminal: pages cannot ask for approval; use --allow-origin\n'
        : '') +
      `  stop with Ctrl-C\n`,
  );
  senv.onListening?.(server);
  await new Promise<void>((resolve) => {
    const off = deps.signals.onStop(() => {
      off();
      resolve();
    });
  });
  await server.close();
  const readers = await service().catch(() => null);
  await readers?.close();
  deps.output.err('cardlend serve: stopped\n');
  return ExitCode.Ok;
}

/** Runs `cardlend serve` with `argv` (after `serve`); resolves with the exit code. */
export async function runServe(
  argv: readonly string[],
  deps: CliDeps,
  senv: ServeEnv = { env: process.env },
): Promise<ExitCode> {
  const plan = planServe(argv);
  if (plan.kind === 'help') {
    deps.output.out(SERVE_USAGE);
    return ExitCode.Ok;
  }
  if (plan.kind === 'usage-error') {
    deps.output.err(`cardlend serve: ${plan.message}\n\n${SERVE_USAGE}`);
    return ExitCode.Usage;
  }
  const store = new ApprovalStore(
    approvalsPath(senv.env),
    plan.kind === 'serve' ? plan.allowOrigins : [],
    deps.now,
  );
  if (plan.kind === 'list-origins') return listOrigins(store, deps);
  if (plan.kind === 'revoke') {
    const was = store.revoke(plan.origin);
    deps.output.out(was ? `Forgot ${plan.origin}.\n` : `${plan.origin} was not approved.\n`);
    return ExitCode.Ok;
  }
  return serve(plan, store, deps, senv);
}
