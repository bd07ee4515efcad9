/**
 * A TCP connection opened inside another process's network namespace. Node cannot enter a
 * namespace itself, so a tiny child (`nsenter -t PID -n node netns-connect-child.mjs`)
 * connects there and passes the connected socket back over the IPC channel; the child then
 * exits and the socket lives on in this process. Needs root (nsenter).
 */
import { spawn } from 'node:child_process';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';

const CHILD = fileURLToPath(new URL('./netns-connect-child.mjs', import.meta.url));

type ChildMessage = { type: 'connected' } | { type: 'error'; code?: string; message?: string };

/** Connects to `host:port` in the network namespace of process `pid`. */
export function connectInNamespace(
  pid: number,
  host: string,
  port: number,
  timeoutMs = 10_000,
): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'nsenter',
      ['-t', String(pid), '-n', process.execPath, CHILD, host, String(port)],
      {
        stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      },
    );
    let stderr = '';
    let isDone = false;
    const finish = (err: Error | null, socket?: Socket): void => {
      if (isDone) {
        socket?.destroy();
        return;
      }
      isDone = true;
      clearTimeout(timer);
      if (err !== null) {
        child.kill('SIGTERM');
        reject(err);
      } else if (socket !== undefined) {
        resolve(socket);
      }
    };
    const timer = setTimeout(
      () => finish(new Error(`connecting to ${host}:${port} in the namespace of ${pid} timed out`)),
      timeoutMs,
    );
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('message', (m: ChildMessage, handle: unknown) => {
      if (m.type === 'connected' && handle !== undefined) finish(null, handle as Socket);
      else if (m.type === 'error') {
        finish(
          new Error(
            `connecting to ${host}:${port} in the namespace of ${pid}: ${m.code ?? ''} ${m.message ?? ''}`,
          ),
        );
      }
    });
    child.on('error', (e) => finish(new Error(`nsenter could not start: ${e.message}`)));
    child.on('exit', (code) => {
      if (!isDone)
        finish(new Error(`nsenter exited with ${code} before connecting: ${stderr.trim()}`));
    });
  });
}
