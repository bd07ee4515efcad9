/**
 * The helper server (`cardlend serve`'s) on 127.0.0.1 over the CLI's real PC/SC reader
 * service, for the tests that lend through it (vitest and the browser specs alike): approvals
 * kept in `configDir`, `approved` pages allowed from the start, pairing through `prompter`
 * (null: no terminal). `stop()` closes the server and then the PC/SC service it opened.
 */
import { openPcscReaders } from '../../src/pcsc-readers.ts';
import type { Prompter, ReaderService } from '../../src/ports.ts';
import { ApprovalStore, approvalsPath } from '../../src/serve/approvals.ts';
import { Pairing } from '../../src/serve/pairing.ts';
import { startHelperServer } from '../../src/serve/server.ts';
import type { HelperServer } from '../../src/serve/server.ts';

export interface PcscHelper {
  readonly server: HelperServer;
  /** Closes the server (if still open) and the PC/SC service it opened. */
  stop(): Promise<void>;
}

export async function startPcscHelper(opts: {
  configDir: string;
  approved?: readonly string[];
  prompter?: Prompter | null;
  helperName?: string;
}): Promise<PcscHelper> {
  const opened: { service?: Promise<ReaderService> } = {};
  const approvals = new ApprovalStore(
    approvalsPath({ CARDLEND_CONFIG_DIR: opts.configDir }),
    opts.approved ?? [],
    Date.now,
  );
  const server = await startHelperServer({
    host: '127.0.0.1',
    port: 0,
    // Closed at process end on purpose (the default), though the test worker goes on: its
    // watch then runs until the worker ends and ends with this test's pcscd, where a stop()
    // racing a reader change could block the worker for good (pcsc README).
    service: () => (opened.service ??= openPcscReaders()),
    approvals,
    pairing: new Pairing(opts.prompter ?? null),
    helperName: opts.helperName ?? 'cardlend test',
    now: Date.now,
    log: () => undefined,
  });
  return {
    server,
    stop: async () => {
      await server.close();
      await (await opened.service)?.close();
    },
  };
}
