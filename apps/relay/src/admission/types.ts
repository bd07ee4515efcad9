/**
 * The admission of a WebSocket session as a pipeline of small steps, in the shape of ws's
 * `handleUpgrade` / `completeUpgrade` / `abortHandshake`: each step gets what admission has
 * established so far and returns it, extended, or a refusal with the close code the client
 * gets. Steps: origin → limits → token → target → VM lock → connect (admission/steps.ts).
 */
import type { RelayCloseCode } from '@cardlend/vscard';
import type { TokenClaims, TokenLease } from '../auth/tokens.ts';
import type { TargetConfig } from '../config/types.ts';
import type { RefusalKind } from '../limits/refusals.ts';
import type { SessionSlot } from '../limits/session-caps.ts';
import type { TargetLock, VmConnection } from '../targets.ts';
import type { OfferedToken } from './offer.ts';

/**
 * What the upgrade request says about the client, for admission and the session's start
 * (events, audit, the resume offer); a running session keeps only its address and origin. The
 * request itself is not kept, nor its `Sec-WebSocket-Protocol` header:
 * the token and the resume ticket it may carry reach only the step that uses them
 * (admission/offer.ts).
 */
export interface ClientInfo {
  /** The peer, or — only behind a trusted proxy — the forwarded client (canonical text). */
  readonly clientAddress: string;
  /** `clientAddress:port`, for events. */
  readonly remote: string;
  /** The Origin header; undefined for a native client (browsers always send one). */
  readonly origin: string | undefined;
  readonly host: string | undefined;
  /** It offered `cardlend.resume.v1`: it gets a resume ticket once admitted. */
  readonly isResumeCapable: boolean;
}

/** A refusal: the close code and reason the client gets; `kind` for metrics and the audit log. */
export interface Refusal {
  readonly code: RelayCloseCode;
  readonly reason: string;
  readonly kind: RefusalKind | undefined;
}

/** What admission has established so far; each step fills in its part. */
export interface Admitted {
  readonly client: ClientInfo;
  /** The target the session goes to: the default one, or the one its token names. */
  readonly targetId: string;
  /** Held session-cap slot (limits). */
  readonly cap?: SessionSlot;
  /** Held token claim (token). */
  readonly lease?: TokenLease;
  /** What the verified token asserts (token), for the cluster-wide claim (cluster/). */
  readonly tokenClaims?: TokenClaims;
  /** The target's configuration (target). */
  readonly target?: TargetConfig;
  /** The VM lock (VM lock). */
  readonly lock?: TargetLock;
  /** The VM connection (connect). */
  readonly vm?: VmConnection;
}

/** Admission complete: everything a session needs. */
export type AdmittedSession = Admitted & Required<Pick<Admitted, 'cap' | 'target' | 'lock' | 'vm'>>;

/**
 * A step's answer: admitted so far, or refused. `refusal` undefined means the client left
 * while the step waited: nothing is sent, what was held is released.
 */
export type Verdict =
  | { readonly ok: true; readonly admitted: Admitted }
  | { readonly ok: false; readonly refusal: Refusal | undefined };

/** What a step may ask of the connection being admitted. */
export interface AdmissionIo {
  /** Aborted when the client leaves (or admission is refused from outside, e.g. a frame flood). */
  readonly signal: AbortSignal;
  /**
   * The client's first message (first-message authentication), or `timeout` after
   * `timeoutMs`, or `gone` when the client left.
   */
  firstMessage(
    timeoutMs: number,
  ): Promise<{ data: Buffer; isBinary: boolean } | 'timeout' | 'gone'>;
  /** Stop reading the client (its frames wait in its socket) until the session starts. */
  hold(): void;
  /** Wall clock, unix ms (token expiry). */
  now(): number;
  /**
   * The token the client offered in `Sec-WebSocket-Protocol` (admission/offer.ts), for the
   * token step; forgotten once the connection is handed to its session or refused.
   */
  offeredToken(): OfferedToken;
}

/** One step of the pipeline. */
export type AdmissionStep = (admitted: Admitted, io: AdmissionIo) => Verdict | Promise<Verdict>;

export function admit(admitted: Admitted): Verdict {
  return { ok: true, admitted };
}

export function refuse(refusal: Refusal | undefined): Verdict {
  return { ok: false, refusal };
}
