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
 */
import net from 'node:net';
import type { HostPort } from '../config/types.ts';
import type { VmConnection } from '../targets.ts';
import { listenOn } from '../listen.ts';
import { checkHello, MAX_HELLO_BYTES, signHello, type ResumeHello } from './link-auth.ts';

export interface LinkServerOptions {
  readonly listen: HostPort;
  readonly key: Uint8Array | undefined;
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
}

/** A's side: accepts links from other nodes. */
export class LinkServer {
  readonly #o: LinkServerOptions;
  readonly #server: net.Server;
  readonly #seen = new Map<string, number>();
  readonly #sockets = new Set<net.Socket>();

  constructor(opts: LinkServerOptions) {
    this.#o = opts;
    this.#server = net.createServer((s) => this.#accept(s));
    this.#server.on('error', (e) => opts.onEvent(`link server: ${e.message}`));
  }

  start(): Promise<void> {
    return listenOn(this.#server, this.#o.listen);
  }

  get port(): number {
    return (this.#server.address() as net.AddressInfo).port;
  }

  close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  #accept(socket: net.Socket): void {
    this.#sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('error', () => {});
    socket.once('close', () => this.#sockets.delete(socket));
    socket.setTimeout(5000, () => socket.destroy());
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const nl = head.indexOf(0x0a);
      if (nl < 0 && head.length <= MAX_HELLO_BYTES) return;
      socket.off('data', onData);
      socket.pause();
      socket.setTimeout(0);
      if (nl < 0) return this.#refuse(socket, 'hello too long');
      void this.#serve(socket, head.subarray(0, nl).toString('utf8'), head.subarray(nl + 1));
    };
    socket.on('data', onData);
  }

  async #serve(socket: net.Socket, line: string, rest: Buffer): Promise<void> {
    const { key } = this.#o;
    if (key === undefined) return this.#refuse(socket, 'links need token secrets');
    const check = checkHello(key, line, this.#o.now(), this.#seen);
    if (!check.ok) return this.#refuse(socket, check.reason);
    if (check.kind === 'resume') {
      // Not reported here: the session reports its `resumed` event, a refusal its `refused`.
      socket.write('OK\n');
      this.#o.resume(check.hello, socket, Buffer.from(rest));
      return;
    }
    const { target, node } = check.hello;
    if (!this.#o.isDialIn(target)) return this.#refuse(socket, 'not a dial-in target');
    const abort = new AbortController();
    socket.once('close', () => abort.abort());
    let vm: VmConnection;
    try {
      vm = await this.#o.take(target, abort.signal);
    } catch (e) {
      return this.#refuse(socket, `no VM: ${(e as Error).message}`);
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

  #refuse(socket: net.Socket, reason: string): void {
    this.#o.onEvent(`link refused: ${reason}`);
    socket.end(`ERR ${reason}\n`);
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
}

/** B's side: the VM connection of a target parked on another node, through its link. */
export async function dialLink(o: DialLinkOptions): Promise<VmConnection> {
  const hello = signHello(o.key, o.targetId, o.nodeId, o.now());
  const { socket, rest } = await dialHello(o.advertise, hello, o.timeoutMs, o.signal);
  return { socket, pending: rest.length > 0 ? Uint8Array.from(rest) : undefined };
}

/**
 * Connects to another node's `advertise` address, sends `hello` and waits for `OK\n`: the
 * socket, and the bytes that came after the answer. Rejects with the node's `ERR` reason, on
 * a close, on `signal` or after `timeoutMs`.
 */
export function dialHello(
  advertise: string,
  hello: string,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<{ socket: net.Socket; rest: Buffer }> {
  const colon = advertise.lastIndexOf(':');
  const host = advertise.slice(0, colon).replace(/^\[|\]$/g, '');
  const port = Number(advertise.slice(colon + 1));
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    socket.setNoDelay(true);
    let head = Buffer.alloc(0);
    const fail = (e: Error) => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      socket.off('close', onClose);
      socket.destroy();
      reject(e);
    };
    const onClose = () => fail(new Error('the node closed the link'));
    const onAbort = () => fail(new Error('browser left'));
    const timer = setTimeout(
      () => fail(Object.assign(new Error('link timeout'), { code: 'ETIMEDOUT' })),
      timeoutMs,
    );
    signal.addEventListener('abort', onAbort);
    socket.once('error', fail);
    socket.once('close', onClose);
    socket.once('connect', () => socket.write(hello));
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const nl = head.indexOf(0x0a);
      if (nl < 0) return head.length > 256 ? fail(new Error('bad link answer')) : undefined;
      socket.off('data', onData);
      const answer = head.subarray(0, nl).toString('utf8');
      if (answer !== 'OK') return fail(new Error(answer.replace(/^ERR /, '')));
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      socket.off('error', fail);
      socket.off('close', onClose);
      socket.on('error', () => {});
      resolve({ socket, rest: head.subarray(nl + 1) });
    };
    socket.on('data', onData);
  });
}
