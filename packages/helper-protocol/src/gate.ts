/**
 * The helper's side of one page connection as a pure state machine: the handshake's Origin,
 * the page's frames and time go in; messages to send, a close, requests to carry out and
 * pairings to ask the person about come out. It enforces everything the protocol promises
 * before a request reaches a reader: a web Origin, approval (nothing but "not approved" and
 * pairing for an unapproved origin), message size and shape, rate, and unanswered requests.
 * The owner (the server) does the I/O and answers requests with `answer`/`fail`.
 */
import { decodeClientMessage } from './codec.ts';
import { closeCodeFor } from './codes.ts';
import type { HelperErrorCode } from './codes.ts';
import { HELPER_LIMITS, HELPER_PROTOCOL_VERSION } from './constants.ts';
import type { HelperLimits } from './constants.ts';
import type { ClientMessage, ErrorSource, HelperMessage, OkResult } from './messages.ts';
import { isApprovableOrigin, parseOrigin } from './origin.ts';
import type { WebOrigin } from './origin.ts';
import { TokenBucket } from './rate.ts';
import { errorSourceOf } from './source.ts';

/** What the owner of a gate must do, in order. */
export type GateAction =
  | { readonly type: 'send'; readonly message: HelperMessage }
  /** Close the WebSocket with `code` and `reason` (a {@link HelperErrorCode}); the gate is done. */
  | { readonly type: 'close'; readonly code: number; readonly reason: HelperErrorCode }
  /** An approved page's valid request: carry it out, then `answer` or `fail` it. */
  | { readonly type: 'request'; readonly message: ClientMessage }
  /** Ask the person to approve `origin` (the page asked with request `id`). */
  | { readonly type: 'pair'; readonly id: number; readonly origin: WebOrigin };

/** A frame from the page. */
export type Frame = { readonly text: string } | { readonly binaryBytes: number };

/** Options of {@link ConnectionGate}. */
export interface GateOptions {
  /** The handshake's `Origin` header (undefined when there was none). */
  readonly originHeader: string | undefined;
  /** Whether an origin is approved now (the approvals store). */
  readonly isApproved: (origin: WebOrigin) => boolean;
  /** Name and version of the helper, sent in `hello`. */
  readonly helper: string;
  readonly nowMs: number;
  readonly limits?: Partial<HelperLimits>;
}

function refuse(code: HelperErrorCode, message: string, id?: number): HelperMessage {
  return id === undefined ? { type: 'error', code, message } : { type: 'error', id, code, message };
}

/** One connection's gatekeeper (see the module comment). */
export class ConnectionGate {
  readonly origin: WebOrigin | null;
  readonly #opts: GateOptions;
  readonly #limits: HelperLimits;
  readonly #bucket: TokenBucket;
  readonly #pending = new Set<number>();
  #isApproved = false;
  #isClosed = false;

  constructor(opts: GateOptions) {
    this.#opts = opts;
    this.#limits = { ...HELPER_LIMITS, ...opts.limits };
    this.#bucket = new TokenBucket(this.#limits.ratePerSecond, this.#limits.rateBurst, opts.nowMs);
    this.origin = parseOrigin(opts.originHeader);
  }

  get isApproved(): boolean {
    return this.#isApproved;
  }

  get isClosed(): boolean {
    return this.#isClosed;
  }

  /** Requests carried out and not yet answered. */
  get pendingCount(): number {
    return this.#pending.size;
  }

  /** The connection opened: `hello`, or a close when the Origin is no web origin. */
  open(): GateAction[] {
    if (this.origin === null) return this.#close('HELPER_ORIGIN_MISSING');
    this.#isApproved = this.#opts.isApproved(this.origin);
    return [
      {
        type: 'send',
        message: {
          type: 'hello',
          version: HELPER_PROTOCOL_VERSION,
          helper: this.#opts.helper,
          approved: this.#isApproved,
        },
      },
    ];
  }

  /** A frame from the page. */
  receive(frame: Frame, nowMs: number): GateAction[] {
    if (this.#isClosed) return [];
    if (!this.#bucket.take(nowMs)) return this.#close('HELPER_RATE_LIMITED');
    if ('binaryBytes' in frame) {
      return frame.binaryBytes > this.#limits.maxMessageBytes
        ? this.#close('HELPER_MESSAGE_TOO_LARGE')
        : this.#close('HELPER_MALFORMED', 'binary frames are not part of the protocol');
    }
    const decoded = decodeClientMessage(frame.text);
    if (!decoded.ok) return this.#close(decoded.code, decoded.reason, decoded.id);
    return this.#request(decoded.message);
  }

  #request(message: ClientMessage): GateAction[] {
    const { id } = message;
    if (this.#pending.has(id))
      return this.#close('HELPER_MALFORMED', 'request id already in use', id);
    if (this.#pending.size >= this.#limits.maxPendingRequests)
      return this.#send(refuse('HELPER_TOO_MANY_REQUESTS', 'too many unanswered requests', id));
    if (message.type === 'pair') return this.#pair(id);
    if (!this.#isApproved)
      return this.#send(refuse('HELPER_ORIGIN_NOT_APPROVED', 'this page is not approved', id));
    this.#pending.add(id);
    return [{ type: 'request', message }];
  }

  #pair(id: number): GateAction[] {
    const origin = this.origin as WebOrigin;
    if (this.#isApproved || this.#opts.isApproved(origin)) {
      this.#isApproved = true;
      return this.#send({ type: 'ok', id, result: { approved: true } });
    }
    if (!isApprovableOrigin(origin))
      return this.#send(refuse('HELPER_ORIGIN_INSECURE', 'only https pages can be approved', id));
    this.#pending.add(id);
    return [{ type: 'pair', id, origin }];
  }

  /** Answers request `id` (a pairing's `ok` also approves the connection). */
  answer(id: number, result: OkResult): GateAction[] {
    if (this.#isClosed || !this.#pending.delete(id)) return [];
    if ('approved' in result && result.approved) this.#isApproved = true;
    return this.#send({ type: 'ok', id, result });
  }

  /**
   * Fails request `id` with `code` (a helper code or the reader's `CCID_*` code), and the
   * PC/SC code below it when the failure came from the smart-card service.
   */
  fail(
    id: number,
    code: HelperErrorCode | `CCID_${string}`,
    message: string,
    source?: ErrorSource,
  ): GateAction[] {
    if (this.#isClosed || !this.#pending.delete(id)) return [];
    const checked = errorSourceOf(source); // the page would drop one of another shape anyway
    return this.#send(
      checked === undefined
        ? { type: 'error', id, code, message }
        : { type: 'error', id, code, message, source: checked },
    );
  }

  /** An event for the page; dropped until the page is approved (no reader names leak). */
  notify(message: HelperMessage): GateAction[] {
    if (this.#isClosed || !this.#isApproved) return [];
    return this.#send(message);
  }

  /** Pairing started: the page is told the code the helper's terminal shows. */
  pairing(code: string): GateAction[] {
    return this.#isClosed ? [] : this.#send({ type: 'pairing', code });
  }

  /** The helper is stopping. */
  stop(): GateAction[] {
    return this.#isClosed ? [] : this.#close('HELPER_STOPPING');
  }

  /** The socket closed by itself. */
  closed(): void {
    this.#isClosed = true;
    this.#pending.clear();
  }

  #send(message: HelperMessage): GateAction[] {
    return [{ type: 'send', message }];
  }

  #close(code: HelperErrorCode, message?: string, id?: number): GateAction[] {
    this.#isClosed = true;
    this.#pending.clear();
    const actions: GateAction[] = [];
    if (code !== 'HELPER_ORIGIN_MISSING')
      actions.push({ type: 'send', message: refuse(code, message ?? code, id) });
    actions.push({ type: 'close', code: closeCodeFor(code) ?? 4000, reason: code });
    return actions;
  }
}
