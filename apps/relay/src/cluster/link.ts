/**
 * The internal link between relay nodes: a browser on node B reaches a VM that dialled in to
 * node A. B connects to A's advertised address, sends a signed hello naming the target
 * (link-auth.ts); A takes its parked VM connection (as a local session would), answers
 * `OK\n`, sends the bytes QEMU had sent before, then pipes both ways. B's session uses the link
 * socket as its VM connection, unchanged: its cleanup (CardRemove, ReaderRemove, FIN) travels
 * to QEMU, and either side closing closes the other.
 *
 * A resume hello (a browser on B presents the ticket of a session A runs) is answered `OK\n`
 * too and handed to `resume` (cluster/resume-link.ts), which speaks framed messages
 * (link-frames.ts) on the socket from then on. A refused hello gets `ERR <reason>\n`.
 *
 * With `cluster.linkTls` all of it runs inside TLS, both ends presenting a certificate the
 * cluster CA signed (link-tls.ts). A node with TLS and one without do not understand each
 * other: each side says so in its log and the link fails at once (a ClientHello reaching a
 * plain listener is refused on its first byte; a hello line reaching a TLS listener fails its
 * handshake), so the session gets what an unreachable holder gives.
 *
 * Before its signed hello passes, a connection costs a TLS handshake and a hello wait and
 * proves nothing: at most {@link LINK_MAX_WAITING} such are open at once, further ones are
 * closed on accept (and reported: the first of a burst at once, the rest as one summary line,
 * link-refusals.ts; so are the other refusals before a hello, one tally per reason). Every
 * refusal is counted by kind (`onRefused`, the metrics). Links past the hello do not count:
 * their number grows with the cross-node sessions. A refused link (`ERR <reason>\n`) whose
 * peer does not close is cut off after {@link LINK_REFUSAL_LINGER_MS}, after its hello as
 * before it.
 */
import net from 'node:net';
import tls from 'node:tls';
import {
  rememberRemotes,
  remoteOf,
  trackConnections,
  useClientCertTls,
} from '../client-cert-tls.ts';
import type { HostPort } from '../config/types.ts';
import type { VmConnection } from '../targets.ts';
import type { TlsMaterial } from '../tls-files.ts';
import { listenOn } from '../listen.ts';
import type { SessionTimers, TimerHandle } from '../session/timers.ts';
import { checkHello, MAX_HELLO_BYTES, signHello, type ResumeHello } from './link-auth.ts';
import {
  describeLinkFailure,
  describeRefusedHandshake,
  linkServerTlsOptions,
  TLS_HANDSHAKE_RECORD,
  type LinkTlsClient,
} from './link-tls.ts';
import {
  endRefused,
  LINK_REFUSAL_LINGER_MS,
  LinkRefusalLog,
  UNREF_TIMERS,
  type LinkRefusalKind,
} from './link-refusals.ts';

/** Most connections to a node's link open at once that have not passed their signed hello. */
export const LINK_MAX_WAITING = 64;

/** Longest wait for a link's hello line, ms, from the end of the TLS handshake (or accept). */
export const LINK_HELLO_TIMEOUT_MS = 5000;

export interface LinkServerOptions {
  readonly listen: HostPort;
  readonly key: Uint8Array | undefined;
  /** The link's TLS material (config `cluster.linkTls`); undefined: plain TCP. */
  readonly tls?: TlsMaterial | undefined;
  /** Takes target's VM connection (dial-in targets only); rejects when there is none. */
  readonly take: (targetId: string, signal: AbortSignal) => Promise<VmConnection>;
  readonly isDialIn: (targetId: string) => boolean;
  /**
   * Takes over a link that passes on a resume, after `OK\n` was written; `head` are bytes the
   * peer sent after its hello. The socket is paused.
   */
  readonly resume: (hello: ResumeHello, socket: net.Socket, head: Buffer) => void;
  readonly now: () => number;
  readonly onEvent: (message: string) => void;
  /** Most connections open at once before their hello passes; default {@link LINK_MAX_WAITING}. */
  readonly maxWaiting?: number;
  /**
   * Timers of the hello deadline ({@link LINK_HELLO_TIMEOUT_MS}), of refused links' lingers
   * ({@link LINK_REFUSAL_LINGER_MS}) and of the cap's summary lines
   * ({@link LINK_REFUSAL_WINDOW_MS}); default Node's, unref'd.
   */
  readonly timers?: SessionTimers;
  /** Counts each refusal by kind (metrics), whether logged, summed up or neither. */
  readonly onRefused?: (kind: LinkRefusalKind) => void;
}

/** A's side: accepts links from other nodes. */
export class LinkServer {
  readonly #o: LinkServerOptions;
  readonly #server: net.Server | tls.Server;
  readonly #seen = new Map<string, number>();
  /** Every TCP connection still open, TLS handshakes in progress included. */
  readonly #sockets: ReadonlySet<net.Socket>;
  /** Links past their signed hello and still open: the cap leaves room for each. */
  readonly #passed = new Set<net.Socket>();
  readonly #maxWaiting: number;
  readonly #timers: SessionTimers;
  /** Refusals before a hello: the first of a burst logged at once, the rest summed up. */
  readonly #refusals: LinkRefusalLog;

  constructor(opts: LinkServerOptions) {
    this.#o = opts;
    const accept = (s: net.Socket) => this.#accept(s);
    this.#server = opts.tls
      ? tls.createServer(linkServerTlsOptions(opts.tls), accept)
      : net.createServer(accept);
    this.#timers = opts.timers ?? UNREF_TIMERS;
    this.#refusals = new LinkRefusalLog({
      timers: this.#timers,
      emit: opts.onEvent,
      count: opts.onRefused ?? (() => {}),
    });
    const remoteOfHandshake = rememberRemotes(this.#server);
    this.#server.on('tlsClientError', (e: NodeJS.ErrnoException, socket: tls.TLSSocket) => {
      const why = describeRefusedHandshake(e, socket);
      const line = `link refused: TLS handshake with ${remoteOfHandshake(socket)} failed: ${why}`;
      this.#refusals.report('tls-handshake', line, `TLS handshake failed: ${why}`);
      socket.destroy();
    });
    this.#sockets = trackConnections(this.#server);
    this.#maxWaiting = opts.maxWaiting ?? LINK_MAX_WAITING;
    this.#capWaiting();
    const why = `too many connections not yet past their hello (at most ${this.#maxWaiting})`;
    this.#server.on('drop', (data?: { remoteAddress?: string; remotePort?: number }) => {
      const remote = `${data?.remoteAddress ?? '?'}:${data?.remotePort ?? '?'}`;
      this.#refusals.report('over-cap', `link refused: ${remote}: ${why}`, why);
    });
    this.#server.on('error', (e) => opts.onEvent(`link server: ${e.message}`));
  }

  /**
   * Node drops a connection on accept once `maxConnections` are open: all those waiting for
   * their hello, plus room for every link past it.
   */
  #capWaiting(): void {
    this.#server.maxConnections = this.#maxWaiting + this.#passed.size;
  }

  /** A link's hello passed: it no longer counts against {@link LINK_MAX_WAITING}. */
  #pass(socket: net.Socket): void {
    if (socket.destroyed) return;
    this.#passed.add(socket);
    this.#capWaiting();
    socket.once('close', () => {
      this.#passed.delete(socket);
      this.#capWaiting();
    });
  }

  /** TCP connections open now: waiting for their hello, refused and lingering, or links. */
  get connectionCount(): number {
    return this.#sockets.size;
  }

  /** Connections open now that have not passed their hello (TLS handshakes included). */
  get waiting(): number {
    // A TLS link's TCP connection closes a moment before its TLS socket.
    return Math.max(0, this.#sockets.size - this.#passed.size);
  }

  start(): Promise<void> {
    return listenOn(this.#server, this.#o.listen);
  }

  get port(): number {
    return (this.#server.address() as net.AddressInfo).port;
  }

  /**
   * New links use new TLS material (SIGHUP); live ones keep theirs. No-op on a plain link
   * listener.
   */
  useTls(material: TlsMaterial): void {
    if (this.#server instanceof tls.Server) useClientCertTls(this.#server, material);
  }

  /** Stops listening, ends every connection and logs the pending summaries (no timer left). */
  close(): Promise<void> {
    this.#refusals.close();
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const s of this.#sockets) s.destroy();
    return closed;
  }

  #accept(socket: net.Socket): void {
    socket.setNoDelay(true);
    socket.on('error', () => {});
    // rejectUnauthorized already ended unverified handshakes; this is a second lock.
    if (socket instanceof tls.TLSSocket && !socket.authorized) return void socket.destroy();
    // A deadline, not an idle timeout, kept until the hello passes: a peer trickling its hello,
    // or one that keeps a refused link open, is cut off all the same.
    const deadline = this.#timers.set(
      (s: net.Socket) => s.destroy(),
      LINK_HELLO_TIMEOUT_MS,
      socket,
    );
    socket.once('close', () => this.#timers.clear(deadline));
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      if (head.length === 0 && !this.#o.tls && chunk[0] === TLS_HANDSHAKE_RECORD) {
        socket.off('data', onData);
        const why = 'it speaks TLS (cluster.linkTls is set there, not here)';
        const line = `link refused: a node at ${remoteOf(socket)}: ${why}`;
        this.#refusals.report('tls-mismatch', line, why);
        return void socket.destroy();
      }
      head = Buffer.concat([head, chunk]);
      const nl = head.indexOf(0x0a);
      if (nl < 0 && head.length <= MAX_HELLO_BYTES) return;
      socket.off('data', onData);
      socket.pause();
      if (nl < 0) return this.#refuse(socket, 'hello-refused', 'hello too long');
      const line = head.subarray(0, nl).toString('utf8');
      void this.#serve(socket, line, head.subarray(nl + 1), deadline);
    };
    socket.on('data', onData);
  }

  async #serve(
    socket: net.Socket,
    line: string,
    rest: Buffer,
    deadline: TimerHandle,
  ): Promise<void> {
    const { key } = this.#o;
    if (key === undefined) return this.#refuse(socket, 'hello-refused', 'links need token secrets');
    const check = checkHello(key, line, this.#o.now(), this.#seen);
    if (!check.ok) return this.#refuse(socket, 'hello-refused', check.reason);
    this.#timers.clear(deadline);
    this.#pass(socket);
    if (check.kind === 'resume') {
      // Not reported here: the session reports its `resumed` event, a refusal its `refused`.
      socket.write('OK\n');
      this.#o.resume(check.hello, socket, Buffer.from(rest));
      return;
    }
    const { target, node } = check.hello;
    if (!this.#o.isDialIn(target))
      return this.#refuse(socket, 'not-dial-in', 'not a dial-in target');
    const abort = new AbortController();
    socket.once('close', () => abort.abort());
    let vm: VmConnection;
    try {
      vm = await this.#o.take(target, abort.signal);
    } catch (e) {
      return this.#refuse(socket, 'no-vm', `no VM: ${(e as Error).message}`);
    }
    if (socket.destroyed) return void vm.socket.destroy();
    this.#o.onEvent(`link: node ${node} lends to ${target}`);
    socket.write(
      vm.pending && vm.pending.length > 0
        ? Buffer.concat([Buffer.from('OK\n'), vm.pending])
        : 'OK\n',
    );
    pipeBoth(socket, vm.socket);
  }

  /**
   * Answers `ERR <reason>` and logs it; a refusal before the hello (`hello-refused`) is summed
   * up with the others of its reason (the ones after it come from a node that had the secret).
   */
  #refuse(socket: net.Socket, kind: LinkRefusalKind, reason: string): void {
    const burst = kind === 'hello-refused' ? reason : undefined;
    this.#refusals.report(kind, `link refused: ${reason}`, burst);
    const expired = () => this.#refusals.report('linger-expired');
    endRefused(socket, reason, LINK_REFUSAL_LINGER_MS, this.#timers, expired);
  }
}

/** Pipes two sockets both ways; an end is passed on, an error or close destroys the other. */
function pipeBoth(a: net.Socket, b: net.Socket): void {
  a.pipe(b);
  b.pipe(a);
  a.resume();
  a.once('close', () => b.end());
  b.once('close', () => a.end());
  b.on('error', () => a.destroy());
}

export interface DialLinkOptions {
  readonly advertise: string;
  readonly key: Uint8Array;
  readonly targetId: string;
  readonly nodeId: string;
  readonly now: () => number;
  readonly timeoutMs: number;
  readonly signal: AbortSignal;
  /** TLS towards the node (config `cluster.linkTls`); undefined: plain TCP. */
  readonly tls: LinkTlsClient | undefined;
}

/** B's side: the VM connection of a target parked on another node, through its link. */
export async function dialLink(o: DialLinkOptions): Promise<VmConnection> {
  const hello = signHello(o.key, o.targetId, o.nodeId, o.now());
  const { socket, rest } = await dialHello(o.advertise, hello, o.timeoutMs, o.signal, o.tls);
  return { socket, pending: rest.length > 0 ? Uint8Array.from(rest) : undefined };
}

/**
 * Connects to another node's `advertise` address (with TLS when `tlsClient` is given), sends
 * `hello` and waits for `OK\n`: the socket, and the bytes that came after the answer. Rejects
 * with the node's `ERR` reason, on a close or a failed TLS handshake (each described for the
 * log, link-tls.ts; the error's `code` kept), on `signal` or after `timeoutMs`.
 */
export function dialHello(
  advertise: string,
  hello: string,
  timeoutMs: number,
  signal: AbortSignal,
  tlsClient: LinkTlsClient | undefined,
): Promise<{ socket: net.Socket; rest: Buffer }> {
  const colon = advertise.lastIndexOf(':');
  const host = advertise.slice(0, colon).replace(/^\[|\]$/g, '');
  const port = Number(advertise.slice(colon + 1));
  return new Promise((resolve, reject) => {
    const socket = tlsClient ? tlsClient.connect(host, port) : net.connect({ host, port });
    socket.setNoDelay(true);
    let head = Buffer.alloc(0);
    let isSecure = false;
    const fail = (e: Error) => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      socket.off('close', onClose);
      socket.on('error', () => {});
      socket.destroy();
      reject(e);
    };
    const onError = (e: NodeJS.ErrnoException) => {
      const why = describeLinkFailure(e, tlsClient !== undefined, isSecure);
      fail(Object.assign(new Error(why, { cause: e }), { code: e.code }));
    };
    const onClose = () => fail(new Error(closedWhy(tlsClient !== undefined, isSecure, head)));
    const onAbort = () => fail(new Error('browser left'));
    const timer = setTimeout(
      () => fail(Object.assign(new Error('link timeout'), { code: 'ETIMEDOUT' })),
      timeoutMs,
    );
    signal.addEventListener('abort', onAbort);
    socket.once('error', onError);
    socket.once('close', onClose);
    socket.once(tlsClient ? 'secureConnect' : 'connect', () => {
      isSecure = true;
      socket.write(hello);
    });
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const nl = head.indexOf(0x0a);
      if (nl < 0) return head.length > 256 ? fail(new Error('bad link answer')) : undefined;
      socket.off('data', onData);
      const answer = head.subarray(0, nl).toString('utf8');
      if (answer !== 'OK') return fail(new Error(answer.replace(/^ERR /, '')));
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      socket.off('error', onError);
      socket.off('close', onClose);
      socket.on('error', () => {});
      resolve({ socket, rest: head.subarray(nl + 1) });
    };
    socket.on('data', onData);
  });
}

/** Why a link closed before its answer, as far as this side can tell. */
function closedWhy(isTls: boolean, isSecure: boolean, head: Buffer): string {
  if (head.length > 0) return 'the node closed the link';
  if (!isTls)
    return 'the node closed the link before answering (a node with cluster.linkTls closes plain links; so does a node at its cap of links before their hello)';
  return isSecure
    ? "TLS: the node closed the link before answering (did it refuse this node's certificate?)"
    : "TLS: the node closed the link in the handshake (no cluster.linkTls there, it refused this node's certificate, or it is at its cap of links before their hello)";
}
