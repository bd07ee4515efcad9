/**
 * A minimal QMP client over QEMU's monitor unix socket. HMP commands (`info usb`,
 * `device_del card0`) run through QMP's `human-monitor-command`, which returns their
 * text output without the readline echo that a raw `-monitor` socket adds.
 */
import net from 'node:net';
import { TestbedError } from './errors.ts';

interface Pending {
  resolve: (value: unknown) => void;
  reject: (e: Error) => void;
}

export class QmpClient {
  #socket: net.Socket;
  #buffer = '';
  #pending: Pending[] = [];
  #greeted: Promise<void>;
  #closedError: Error | undefined;

  private constructor(socket: net.Socket) {
    this.#socket = socket;
    let onGreeting: () => void = () => {};
    this.#greeted = new Promise((resolve) => (onGreeting = resolve));
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.#buffer += chunk;
      let nl: number;
      while ((nl = this.#buffer.indexOf('\n')) >= 0) {
        const line = this.#buffer.slice(0, nl).trim();
        this.#buffer = this.#buffer.slice(nl + 1);
        if (line === '') continue;
        let msg: Record<string, unknown>;
        try {
          msg = JSON.parse(line) as Record<string, unknown>;
        } catch {
          continue;
        }
        if ('QMP' in msg) onGreeting();
        else if ('return' in msg) this.#pending.shift()?.resolve(msg['return']);
        else if ('error' in msg) {
          const err = msg['error'] as { desc?: string };
          this.#pending
            .shift()
            ?.reject(new TestbedError('TESTBED_MONITOR_FAILED', err.desc ?? line));
        }
        // 'event' messages are ignored.
      }
    });
    const fail = (e?: Error) => {
      this.#closedError ??= new TestbedError('TESTBED_MONITOR_FAILED', 'QMP socket closed', {
        cause: e,
      });
      for (const p of this.#pending.splice(0)) p.reject(this.#closedError);
    };
    socket.on('error', fail);
    socket.on('close', () => fail());
  }

  /** Connects to `path`, retrying until `timeoutMs`; negotiates capabilities. */
  static async connect(path: string, timeoutMs: number): Promise<QmpClient> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const socket = await new Promise<net.Socket>((resolve, reject) => {
          const s = net.connect(path);
          s.once('connect', () => {
            s.off('error', reject);
            resolve(s);
          });
          s.once('error', reject);
        });
        const client = new QmpClient(socket);
        await client.#greeted;
        await client.execute('qmp_capabilities');
        return client;
      } catch (e) {
        if (Date.now() > deadline) {
          throw new TestbedError('TESTBED_MONITOR_FAILED', `cannot reach QMP at ${path}`, {
            cause: e,
          });
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  }

  /** Runs one QMP command and resolves with its `return` value. */
  execute(command: string, args?: Record<string, unknown>): Promise<unknown> {
    if (this.#closedError) return Promise.reject(this.#closedError);
    return new Promise((resolve, reject) => {
      this.#pending.push({ resolve, reject });
      this.#socket.write(
        JSON.stringify(args ? { execute: command, arguments: args } : { execute: command }) + '\n',
      );
    });
  }

  /** Runs an HMP command line and resolves with its text output. */
  async hmp(commandLine: string): Promise<string> {
    const out = await this.execute('human-monitor-command', { 'command-line': commandLine });
    return typeof out === 'string' ? out : '';
  }

  close(): void {
    this.#socket.destroy();
  }
}
