/**
 * The relay benchmark's stand-in VSCard host (it plays QEMU): sends guest APDUs on each session
 * and times the answers; like QEMU it answers every Init with its own and every control message
 * with Error(0).
 */
import { VSC, VscardFramer } from '@cardlend/vscard';
import { GUEST_APDU, HOST_ACK, HOST_INIT } from './bench-common.ts';
import net from 'node:net';

/** One connection to the host: it sends guest commands and times the answers. */
export class HostConn {
  readonly #socket: net.Socket;
  readonly #framer = new VscardFramer();
  #pending: { resolve: (ns: number) => void; reject: (e: Error) => void; t0: bigint } | undefined;
  isClosed = false;

  constructor(socket: net.Socket, onReaderAdd: (name: string, conn: HostConn) => void) {
    this.#socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      let frames;
      try {
        frames = this.#framer.push(chunk);
      } catch {
        socket.destroy();
        return;
      }
      for (const f of frames) {
        if (f.type === VSC.APDU) {
          const p = this.#pending;
          this.#pending = undefined;
          p?.resolve(Number(process.hrtime.bigint() - p.t0));
        } else if (f.type === VSC.Init) {
          socket.write(HOST_INIT);
        } else if (f.type === VSC.ReaderAdd) {
          socket.write(HOST_ACK);
          onReaderAdd(Buffer.from(f.bytes.subarray(12)).toString('utf8'), this);
        } else if (f.type === VSC.ATR || f.type === VSC.CardRemove || f.type === VSC.ReaderRemove) {
          socket.write(HOST_ACK);
        }
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.isClosed = true;
      this.#pending?.reject(new Error('host connection closed'));
      this.#pending = undefined;
    });
  }

  /** Sends one guest APDU; resolves with the round trip, ns. */
  exchange(): Promise<number> {
    return new Promise((resolve, reject) => {
      if (this.isClosed) return reject(new Error('host connection closed'));
      this.#pending = { resolve, reject, t0: process.hrtime.bigint() };
      this.#socket.write(GUEST_APDU);
    });
  }
}

export class StandInHost {
  readonly server = net.createServer({ noDelay: true }, (s) => {
    this.conns.add(new HostConn(s, (name, conn) => this.#onSession(name, conn)));
  });
  readonly conns = new Set<HostConn>();
  readonly #sessions = new Map<string, HostConn>();
  readonly #waiters = new Map<string, (c: HostConn) => void>();

  async listen(): Promise<number> {
    this.server.maxConnections = 100_000;
    await new Promise<void>((r) =>
      this.server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, r),
    );
    return (this.server.address() as net.AddressInfo).port;
  }

  #onSession(name: string, conn: HostConn): void {
    const w = this.#waiters.get(name);
    this.#waiters.delete(name);
    if (w) w(conn);
    else this.#sessions.set(name, conn);
  }

  /** The host side of session `name` (its ReaderAdd name), once its ReaderAdd arrived. */
  session(name: string, timeoutMs: number): Promise<HostConn> {
    const c = this.#sessions.get(name);
    if (c) {
      this.#sessions.delete(name);
      return Promise.resolve(c);
    }
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.#waiters.delete(name);
        reject(new Error(`session ${name} never reached the host`));
      }, timeoutMs);
      this.#waiters.set(name, (conn) => {
        clearTimeout(t);
        resolve(conn);
      });
    });
  }

  prune(): void {
    for (const c of this.conns) if (c.isClosed) this.conns.delete(c);
  }
}
