/**
 * What the parts of the lending machine (card-track.ts, guest-server.ts, session-driver.ts)
 * see of it: the shared state, the output, and the transitions they may trigger.
 */
import type { SessionAction, VscardClientSession } from '@cardlend/vscard';
import type { BridgeError } from '../errors.ts';
import type { ReconnectPolicy } from '../backoff.ts';
import type { T0CompatMode } from './card.ts';
import type { GuestQueue } from './guest-queue.ts';
import type {
  BridgeLogEvent,
  BridgeState,
  LendingAction,
  ReaderRequest,
  ReaderResult,
} from './types.ts';

/** One relay connection (one WebSocket) and the VSCard session on it. */
export interface Connection {
  /** The machine's id of the socket (`open-socket` action). */
  readonly socket: number;
  /** `closing`: the machine asked it to close and waits for its close event. */
  status: 'opening' | 'open' | 'closing';
  wasOpen: boolean;
  /** The VSCard session, once the socket is open with the right subprotocol. */
  session: VscardClientSession | null;
  /** The VM acknowledged the reader (ReaderAdd). */
  isReaderAnnounced: boolean;
  /** What the VM was told about the card on this connection: its ATR, or that there is none. */
  vmCard: 'unknown' | 'announced' | 'cleared';
  /** When the reader was acknowledged (bridge clock), or null. */
  lentAtMs: number | null;
  /** Set when the bridge closes the socket itself for an error: no reconnect. */
  failure: BridgeError | null;
  /** The connection presents a resume ticket instead of the token. */
  isResuming: boolean;
}

/** A connection about to open as socket `socket`. */
export function newConnection(socket: number): Connection {
  return {
    socket,
    status: 'opening',
    wasOpen: false,
    session: null,
    isReaderAnnounced: false,
    vmCard: 'unknown',
    lentAtMs: null,
    failure: null,
    isResuming: false,
  };
}

/** A reader call without its id (the machine assigns it). */
export type ReaderCall = ReaderRequest extends infer R
  ? R extends { id: number }
    ? Omit<R, 'id'>
    : never
  : never;

/** A call into a VSCard session. */
export type SessionCall = (session: VscardClientSession, nowMs: number) => SessionAction[];

/** A patch of the state: omitted fields stay; an optional field given as `undefined` is removed. */
export interface StatePatch {
  link?: BridgeState['link'];
  card?: BridgeState['card'];
  error?: BridgeState['error'];
  closeCode?: number | undefined;
  reconnectAttempt?: number | undefined;
  nextRetryAtMs?: number | undefined;
  resume?: BridgeState['resume'] | undefined;
  relayNotice?: BridgeState['relayNotice'] | undefined;
  powerOnRetry?: BridgeState['powerOnRetry'] | undefined;
}

/** The machine as its parts use it. */
export interface MachineCore {
  readonly slot: number;
  readonly t0Compat: T0CompatMode;
  readonly state: BridgeState;
  readonly nowMs: number;
  readonly conn: Connection | null;
  readonly isRunning: boolean;
  readonly isStopping: boolean;
  readonly isDone: boolean;
  readonly queue: GuestQueue;
  emit(action: LendingAction): void;
  log(level: BridgeLogEvent['level'], message: string, data?: Record<string, unknown>): void;
  setState(patch: StatePatch): void;
  /** Asks for a reader call; `onDone` gets its result (calls run one at a time, in order). */
  callReader(call: ReaderCall, onDone: (result: ReaderResult) => void): void;
  /** Calls into `conn`'s session and performs its actions; a throwing call ends the connection. */
  run(conn: Connection, call: SessionCall): void;
  failConnection(conn: Connection, error: BridgeError): void;
  closeSocket(conn: Connection, code: number, reason: string): void;
  /** The VM acknowledged the reader on `conn`. */
  readerAnnounced(conn: Connection): void;
  /** The reader is unusable for good: lending stops. */
  readerLost(code: 'BRIDGE_READER_GONE' | 'BRIDGE_READER_CLOSED'): void;
  /** A guest command arrived on `conn`. */
  guestCommand(conn: Connection, id: number, apdu: Uint8Array): void;
  /** The power off of stopping ended (either way). */
  poweredOff(): void;
}

/** Options of LendingMachine (machine.ts). */
export interface LendingMachineOptions {
  /** Slot lent; reader events of other slots are ignored. */
  slot: number;
  /** Reader name in ReaderAdd. */
  readerName: string;
  /** How long the VSCard session waits for each acknowledgement, ms (session default 2000). */
  ackTimeoutMs?: number | undefined;
  /** Upper bound for each step of stopping (acks + close; power off), ms. */
  stopTimeoutMs: number;
  t0Compat: T0CompatMode;
  reconnect: ReconnectPolicy;
  /** Random source in [0, 1) for the backoff jitter. */
  random: () => number;
  /** Largest answer sent to the VM unsplit, bytes (≤ 374). */
  maxAnswerBytes: number;
  isPowerOffOnStop: boolean;
  /** Offer to resume the session after a drop (the relay's resume tickets). */
  isResumable: boolean;
}

/** Where lending is; see the module comment for the transitions. */
export type LendingPhase =
  | { name: 'idle' }
  /** Running, with a relay connection (opening, open or closing). */
  | { name: 'online'; conn: Connection }
  /** Running without a connection; the next attempt at `retryAtMs` (bridge clock). */
  | { name: 'offline'; retryAtMs: number }
  /** stop() or the reader is gone: saying goodbye to the VM (CardRemove, ReaderRemove), then closing. */
  | { name: 'stopping'; conn: Connection | null; reason: BridgeError | null }
  /** The link is down; powering the card off (bounded by a timer). */
  | { name: 'powering-off'; reason: BridgeError | null }
  | { name: 'done' };
