/**
 * A relay cluster node as a real process (`tsx src/main.ts --config FILE --cluster …`), for
 * tests where `kill -9` matters; and a VSCard browser that presents a token.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  decodeMessage,
  encodeMessage,
  RELAY_PATH,
  RELAY_SUBPROTOCOL,
  RELAY_TOKEN_SUBPROTOCOL_PREFIX,
  type VscardMessage,
} from '@cardlend/vscard';
import { findFreePort } from '@cardlend/qemu-testbed';
import { Browser, makeStaticDir } from '../helpers.ts';

const appDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface NodeSetup {
  readonly nodeId: string;
  readonly redisUrl: string;
  readonly targets: Record<string, string>;
  readonly secretFile: string;
  readonly leaseMs: number;
  /** The operator API's bearer secret file (the API listens on a free loopback port). */
  readonly operatorSecretFile?: string;
  /** TLS on the cluster link (`cluster.linkTls`). */
  readonly linkTls?: { certFile: string; keyFile: string; caFile: string };
}

/**
 * A random token secret as a secret file holds it: 43 base64url characters. Raw random bytes
 * would not do: the relay trims ASCII whitespace around a file's secret (parseSecret), so one
 * that happens to start or end with a space, tab, CR or LF byte loses it (31 bytes: refused).
 */
export function randomFileSecret(): Uint8Array {
  return Buffer.from(randomBytes(32).toString('base64url'));
}

/** A secret file (32+ bytes, none of them whitespace at either end) in a fresh directory. */
export function writeSecret(secret: Uint8Array): string {
  const isSpace = (b: number | undefined): boolean =>
    b !== undefined && ' \t\r\n'.includes(String.fromCharCode(b));
  if (isSpace(secret[0]) || isSpace(secret[secret.length - 1]))
    throw new Error(
      'a secret file would lose its leading or trailing whitespace: use randomFileSecret()',
    );
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cardlend-cluster-'));
  const file = path.join(dir, 'secret');
  writeFileSync(file, secret);
  return file;
}

export class RelayNode {
  readonly nodeId: string;
  readonly proc: ChildProcess;
  readonly exited: Promise<number | null>;
  #stderr = '';
  #stdout = '';
  port = 0;
  operatorPort = 0;

  private constructor(nodeId: string, proc: ChildProcess) {
    this.nodeId = nodeId;
    this.proc = proc;
    proc.stdout?.on('data', (c: Buffer) => (this.#stdout += c.toString()));
    proc.stderr?.on('data', (c: Buffer) => (this.#stderr += c.toString()));
    this.exited = new Promise((resolve) => proc.once('exit', (code) => resolve(code)));
  }

  static async start(setup: NodeSetup): Promise<RelayNode> {
    const dir = mkdtempSync(path.join(os.tmpdir(), `cardlend-${setup.nodeId}-`));
    const operatorPort = await findFreePort();
    const config = path.join(dir, 'relay.json');
    writeFileSync(
      config,
      JSON.stringify({
        listen: '127.0.0.1:0',
        targets: setup.targets,
        tokenSecretFiles: [setup.secretFile],
        static: makeStaticDir(),
        cleanupAckTimeoutMs: 500,
        cluster: {
          redis: setup.redisUrl,
          nodeId: setup.nodeId,
          advertise: `127.0.0.1:${await findFreePort()}`,
          leaseMs: setup.leaseMs,
          ...(setup.linkTls
            ? {
                linkTls: {
                  cert: setup.linkTls.certFile,
                  key: setup.linkTls.keyFile,
                  ca: setup.linkTls.caFile,
                },
              }
            : {}),
        },
        ...(setup.operatorSecretFile
          ? {
              operator: {
                listen: `127.0.0.1:${operatorPort}`,
                secretFile: setup.operatorSecretFile,
              },
            }
          : {}),
      }),
    );
    const proc = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', '--config', config], {
      cwd: appDir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const node = new RelayNode(setup.nodeId, proc);
    node.operatorPort = operatorPort;
    const deadline = Date.now() + 30_000;
    for (;;) {
      const m = /Open in Chrome:\s+http:\/\/127\.0\.0\.1:(\d+)\//.exec(node.#stderr);
      if (m) {
        node.port = Number(m[1]);
        return node;
      }
      if (proc.exitCode !== null || Date.now() > deadline)
        throw new Error(`node ${setup.nodeId} did not start: ${node.#stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  get stdout(): string {
    return this.#stdout;
  }

  async readyz(): Promise<{ status: number; body: string }> {
    const res = await fetch(`http://127.0.0.1:${this.port}/readyz`);
    return { status: res.status, body: await res.text() };
  }

  /** A request to the node's operator API with the bearer secret. */
  async operator(
    method: string,
    pathname: string,
    secret: string,
  ): Promise<{ status: number; json: unknown }> {
    const res = await fetch(`http://127.0.0.1:${this.operatorPort}${pathname}`, {
      method,
      headers: { Authorization: `Bearer ${secret}` },
    });
    return { status: res.status, json: await res.json() };
  }

  /** `kill -9`. */
  async kill9(): Promise<void> {
    this.proc.kill('SIGKILL');
    await this.exited;
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.proc.kill('SIGTERM');
    await this.exited;
  }
}

/** A browser speaking VSCard through a node with a token. */
export class TokenBrowser {
  readonly browser: Browser;
  #next = 0;

  constructor(node: { readonly port: number }, token: string) {
    this.browser = new Browser(`ws://127.0.0.1:${node.port}${RELAY_PATH}`, [
      RELAY_SUBPROTOCOL,
      RELAY_TOKEN_SUBPROTOCOL_PREFIX + token,
    ]);
  }

  get closed(): Promise<{ code: number; reason: string }> {
    return this.browser.closed;
  }

  async request(msg: VscardMessage, timeoutMs = 3000): Promise<VscardMessage> {
    await this.browser.opened;
    this.browser.send(encodeMessage(msg, { errorCodeByteOrder: 'le' }));
    const frame = await this.browser.frame(this.#next++, timeoutMs);
    return decodeMessage(Uint8Array.from(frame));
  }
}
