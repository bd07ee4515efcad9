/**
 * QEMU dial-in mode (issue 6): the VM's chardev is a client
 * (`-chardev socket,host=RELAY,port=P,reconnect=1`) and the relay listens for it, either on a
 * per-VM port ({@link DialInPort}) or on one shared TLS port where the VM's client certificate
 * names it (dial-in-tls.ts). QEMU connects whenever nobody is connected (retrying every second,
 * vscard-protocol.md §5 "Client mode"); the relay parks that connection until a browser session
 * for the VM takes it ({@link DialInSlot}, the same for both listeners).
 *
 * While parked the relay keeps reading (QEMU's writes would otherwise stall its emulation
 * thread, §5), answers every guest command at once with VSC_Error (the guest never waits and
 * QEMU's 128-command FIFO is never approached, §4), and on arrival sends CardRemove +
 * ReaderRemove so a card left by an earlier relay process is removed. Only one VM connection
 * is held per target: while it is alive, further connections are refused (a stranger cannot
 * take the VM's place); bind a per-VM port to an address only the VM can reach.
 */
import net from 'node:net';
import { VSC, VSCARD_HEADER_BYTES, VSCARD_MAX_GUEST_COMMAND_BYTES } from '@cardlend/vscard';
import type { HostPort } from './config/types.ts';
import { RelayError } from './errors.ts';
import { CARD_REMOVE, GUEST_COMMAND_ERROR, READER_REMOVE } from './vm-messages.ts';
import type { VmTlsRefusalKind } from './vm-tls-refusal.ts';

/** Events for logs. */
export type DialInEvent =
  | { kind: 'vm-connected'; remote: string }
  | { kind: 'vm-disconnected'; remote: string }
  /** `refusal`: set by the VM TLS listener for a connection that named no target (metrics). */
  | { kind: 'vm-refused'; remote: string; reason: string; refusal?: VmTlsRefusalKind }
  | { kind: 'parked-guest-command-answered' }
  | { kind: 'error'; message: string };

/** A VM connection handed to a session; `pending` holds bytes of a message not yet complete. */
export interface DialInConnection {
  socket: net.Socket;
  pending: Uint8Array;
}

interface Parked {
  socket: net.Socket;
  buffer: Buffer;
  onData: (c: Buffer) => void;
  /** Replies still due for the CardRemove + ReaderRemove sent on arrival. */
  pendingAcks: number;
  onAcked: (() => void) | undefined;
}

/** Longest wait for QEMU's acks of the arrival cleanup before a handover, ms. */
const ARRIVAL_ACK_TIMEOUT_MS = 1000;

/**
 * The park/handover state of one dial-in target: takes already-accepted sockets (plain TCP
 * from a {@link DialInPort}, or `tls.TLSSocket` from the shared TLS listener, after the VM's
 * certificate has named this target) and hands one to a session on {@link DialInSlot.take}.
 */
export class DialInSlot {
  readonly #onEvent: (e: DialInEvent) => void;
  #parked: Parked | undefined;
  #taken: net.Socket | undefined;
  #waiters: ((c: DialInConnection) => void)[] = [];

  constructor(opts: { onEvent?: (e: DialInEvent) => void } = {}) {
    this.#onEvent = opts.onEvent ?? (() => {});
  }

  /** Whether a VM connection is parked (ready for a session). */
  get isVmWaiting(): boolean {
    return this.#parked !== undefined;
  }

  /**
   * Adopts a VM connection: hands it to a waiting session, or parks it. Refused (destroyed,
   * `vm-refused` event) while another connection of this target is alive. `remote` names the
   * peer in events (`host:port`).
   */
  accept(socket: net.Socket, remote: string): void {
    socket.on('error', () => {});
    const holder = this.#taken ?? this.#parked?.socket;
    if (holder && !holder.destroyed) {
      this.#onEvent({ kind: 'vm-refused', remote, reason: 'a VM connection is already held' });
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    this.#onEvent({ kind: 'vm-connected', remote });
    const waiter = this.#waiters.shift();
    if (waiter) {
      this.#taken = socket;
      socket.once('close', () => {
        this.#onTakenClosed(socket);
        this.#onEvent({ kind: 'vm-disconnected', remote }); // as for a parked one
      });
      waiter({ socket, pending: new Uint8Array() });
      return;
    }
    this.#park(socket, remote);
  }

  #park(socket: net.Socket, remote: string): void {
    const parked: Parked = {
      socket,
      buffer: Buffer.alloc(0),
      pendingAcks: 2,
      onAcked: undefined,
      onData: (chunk: Buffer) => {
        parked.buffer = Buffer.concat([parked.buffer, chunk]);
        while (parked.buffer.length >= VSCARD_HEADER_BYTES) {
          const length = parked.buffer.readUInt32BE(8);
          if (length > VSCARD_MAX_GUEST_COMMAND_BYTES) {
            this.#onEvent({ kind: 'vm-refused', remote, reason: 'not VSCard' });
            socket.destroy();
            return;
          }
          if (parked.buffer.length < VSCARD_HEADER_BYTES + length) break;
          const type = parked.buffer.readUInt32BE(0);
          parked.buffer = parked.buffer.subarray(VSCARD_HEADER_BYTES + length);
          if (type === VSC.APDU) {
            socket.write(GUEST_COMMAND_ERROR);
            this.#onEvent({ kind: 'parked-guest-command-answered' });
          }
          // Init needs nothing; Error acks the arrival cleanup (which must not reach a browser).
          if (type === VSC.Error && parked.pendingAcks > 0 && --parked.pendingAcks === 0)
            parked.onAcked?.();
        }
      },
    };
    this.#parked = parked;
    socket.on('data', parked.onData);
    socket.once('close', () => {
      if (this.#parked === parked) this.#parked = undefined;
      this.#onEvent({ kind: 'vm-disconnected', remote });
    });
    // A card left by an earlier relay process disappears from the guest.
    socket.write(CARD_REMOVE);
    socket.write(READER_REMOVE);
  }

  #onTakenClosed(socket: net.Socket): void {
    if (this.#taken === socket) this.#taken = undefined;
  }

  /**
   * Takes the VM connection for a session, waiting up to `timeoutMs` for QEMU to (re)connect.
   * Rejects (code ETIMEDOUT) when none arrives, or when `signal` aborts.
   */
  async take(timeoutMs: number, signal?: AbortSignal): Promise<DialInConnection> {
    const parked = this.#parked;
    if (parked && !parked.socket.destroyed) {
      this.#parked = undefined;
      this.#taken = parked.socket;
      parked.socket.once('close', () => this.#onTakenClosed(parked.socket));
      if (parked.pendingAcks > 0) {
        // Keep the arrival cleanup's acks away from the browser's session.
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, ARRIVAL_ACK_TIMEOUT_MS);
          parked.onAcked = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      parked.socket.off('data', parked.onData);
      return { socket: parked.socket, pending: Uint8Array.from(parked.buffer) };
    }
    return this.#wait(timeoutMs, signal);
  }

  #wait(timeoutMs: number, signal?: AbortSignal): Promise<DialInConnection> {
    return new Promise((resolve, reject) => {
      const waiter = (c: DialInConnection) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        resolve(c);
      };
      const drop = (e: Error) => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        signal?.removeEventListener('abort', onAbort);
        reject(e);
      };
      const timer = setTimeout(
        () => drop(Object.assign(new Error('the VM did not connect'), { code: 'ETIMEDOUT' })),
        timeoutMs,
      );
      const onAbort = () => {
        clearTimeout(timer);
        drop(new Error('aborted'));
      };
      signal?.addEventListener('abort', onAbort);
      this.#waiters.push(waiter);
    });
  }

  /** Drops a parked connection (a taken one belongs to its session). */
  close(): void {
    this.#parked?.socket.destroy();
  }
}

/** A per-VM dial-in port: a plain TCP listener feeding one {@link DialInSlot}. */
export class DialInPort {
  readonly #server: net.Server;
  readonly #listen: HostPort;
  readonly #onEvent: (e: DialInEvent) => void;
  readonly #slot: DialInSlot;

  constructor(opts: { listen: HostPort; onEvent?: (e: DialInEvent) => void }) {
    this.#listen = opts.listen;
    this.#onEvent = opts.onEvent ?? (() => {});
    this.#slot = new DialInSlot({ onEvent: this.#onEvent });
    this.#server = net.createServer((socket) =>
      this.#slot.accept(socket, `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`),
    );
    this.#server.on('error', (e) => this.#onEvent({ kind: 'error', message: e.message }));
  }

  /** Binds the port; rejects with RELAY_LISTEN_FAILED. */
  async start(): Promise<void> {
    await listenOrFail(this.#server, this.#listen, 'the VM');
  }

  /** The bound port. */
  get port(): number {
    return (this.#server.address() as net.AddressInfo).port;
  }

  /** Whether a VM connection is parked (ready for a session). */
  get isVmWaiting(): boolean {
    return this.#slot.isVmWaiting;
  }

  /** See {@link DialInSlot.take}. */
  take(timeoutMs: number, signal?: AbortSignal): Promise<DialInConnection> {
    return this.#slot.take(timeoutMs, signal);
  }

  /** Stops listening and drops a parked connection (a taken one belongs to its session). */
  async close(): Promise<void> {
    this.#slot.close();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

/**
 * Binds `server` (net or tls) to `listen`; rejects with RELAY_LISTEN_FAILED naming `what`
 * and the address.
 */
export function listenOrFail(server: net.Server, listen: HostPort, what: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException) =>
      reject(
        new RelayError(
          'RELAY_LISTEN_FAILED',
          `cannot listen for ${what} on ${listen.host}:${listen.port} (${e.code ?? e.message})`,
          { cause: e },
        ),
      );
    server.once('error', onError);
    server.listen({ host: listen.host, port: listen.port }, () => {
      server.off('error', onError);
      resolve();
    });
  });
}
