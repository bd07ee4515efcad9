/** What the helper's server is started with (server.ts), and the addresses it may listen on. */
import type { HelperLimits } from '@cardlend/helper-protocol';
import type { ReaderService } from '../ports.ts';
import type { ApprovalStore } from './approvals.ts';
import type { Pairing } from './pairing.ts';

/** Loopback addresses the helper may listen on. */
export const LOOPBACK_HOSTS = ['127.0.0.1', '::1'] as const;
export type LoopbackHost = (typeof LOOPBACK_HOSTS)[number];

/** Options of {@link startHelperServer}. */
export interface HelperServerOptions {
  readonly host: LoopbackHost;
  /** 0 picks a free port. */
  readonly port: number;
  readonly service: () => Promise<ReaderService>;
  readonly approvals: ApprovalStore;
  readonly pairing: Pairing;
  /** `cardlend <version>`, sent in hello. */
  readonly helperName: string;
  readonly now: () => number;
  /** One line per notable event (refusals, pairings, readers taken), for the terminal. */
  readonly log: (line: string) => void;
  readonly limits?: Partial<HelperLimits>;
  /** How often the reader list is read for `readers-changed`, ms; default 1500. */
  readonly watchIntervalMs?: number;
}
