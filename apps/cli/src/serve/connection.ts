/**
 * One page connection of the helper: a ConnectionGate (@cardlend/helper-protocol) decides
 * everything; this carries out its actions (send, close, reader requests through the
 * ReaderHub, pairing in the terminal) and lets go of the page's readers when it leaves.
 */
import type { IncomingMessage } from 'node:http';
import type { RawData, WebSocket } from 'ws';
import {
  ConnectionGate,
  encodeMessage,
  HELPER_CLOSE,
  HELPER_LIMITS,
  HELPER_SUBPROTOCOL,
} from '@cardlend/helper-protocol';
import type {
  GateAction,
  HelperErrorCode,
  HelperLimits,
  WebOrigin,
} from '@cardlend/helper-protocol';
import { toRefusal } from './reader-hub.ts';
import type { HubClient, ReaderHub } from './reader-hub.ts';
import type { HelperServerOptions } from './options.ts';

/** What every connection of one server shares. */
export interface ConnectionContext {
  readonly opts: HelperServerOptions;
  readonly limits: HelperLimits;
  readonly hub: ReaderHub;
  readonly gates: Set<ConnectionGate>;
  /** Per gate: tell the page the reader list changed. */
  readonly notifiers: Map<ConnectionGate, () => void>;
  /** Readers being let go of (the server waits for them when it stops). */
  readonly releases: Set<Promise<void>>;
  nextId(): number;
}

function frameOf(data: RawData, isBinary: boolean): { text: string } | { binaryBytes: number } {
  const bytes = Array.isArray(data)
    ? data.reduce((n, b) => n + b.length, 0)
    : data instanceof ArrayBuffer
      ? data.byteLength
      : data.length;
  if (isBinary) return { binaryBytes: bytes };
  if (bytes > HELPER_LIMITS.maxMessageBytes) return { binaryBytes: bytes };
  return {
    text: Buffer.isBuffer(data)
      ? data.toString('utf8')
      : Buffer.from(data as ArrayBuffer).toString('utf8'),
  };
}

/** Serves one page connection: its gate decides, this carries the gate's actions out. */
export function serveConnection(ws: WebSocket, req: IncomingMessage, ctx: ConnectionContext): void {
  const { opts, limits, hub, gates, notifiers, releases } = ctx;
  ws.on('error', () => undefined);
  if (gates.size >= limits.maxConnections) {
    opts.log(`refused a connection: too many (${gates.size} open)`);
    ws.close(HELPER_CLOSE.TOO_MANY_CONNECTIONS, 'HELPER_TOO_MANY_CONNECTIONS');
    return;
  }
  if (ws.protocol !== HELPER_SUBPROTOCOL) {
    ws.close(HELPER_CLOSE.VERSION, 'HELPER_VERSION');
    return;
  }
  const gate = new ConnectionGate({
    originHeader: req.headers.origin,
    isApproved: (o) => opts.approvals.isApproved(o.text),
    helper: opts.helperName,
    nowMs: opts.now(),
    limits,
  });
  gates.add(gate);
  const abort = new AbortController();
  const client: HubClient = { id: ctx.nextId(), notify: (m) => run(gate.notify(m)) };
  notifiers.set(gate, () => client.notify({ type: 'readers-changed' }));
  const run = (actions: GateAction[]): void => {
    for (const a of actions) act(a);
  };
  const act = (a: GateAction): void => {
    if (a.type === 'send') {
      if (ws.readyState === ws.OPEN) ws.send(encodeMessage(a.message));
    } else if (a.type === 'close') {
      opts.log(`closed a connection from ${gate.origin?.text ?? '(no origin)'}: ${a.reason}`);
      ws.close(a.code, a.reason);
    } else if (a.type === 'pair') pair(a.id, a.origin);
    else
      hub.handle(client, a.message).then(
        (result) => run(gate.answer(a.message.id, result)),
        (e: unknown) => {
          const r = toRefusal(e);
          run(gate.fail(a.message.id, r.code, r.message, r.source));
        },
      );
  };
  const pair = (id: number, origin: WebOrigin): void => {
    const asked = opts.pairing.ask(origin.text, abort.signal);
    if (typeof asked === 'string') return fail(id, asked, 'pairing not possible now');
    opts.log(`pairing asked by ${origin.text} (code ${asked.code})`);
    run(gate.pairing(asked.code));
    void asked.outcome.then((outcome) => {
      if (outcome !== 'approved') return fail(id, outcome, 'pairing refused');
      opts.approvals.approve(origin.text);
      opts.log(`approved ${origin.text}`);
      run(gate.answer(id, { approved: true }));
    });
  };
  const fail = (id: number, code: HelperErrorCode, message: string): void =>
    run(gate.fail(id, code, message));
  ws.on('message', (data, isBinary) => run(gate.receive(frameOf(data, isBinary), opts.now())));
  ws.on('close', () => {
    gate.closed();
    gates.delete(gate);
    notifiers.delete(gate);
    abort.abort();
    const released = hub.releaseAll(client);
    releases.add(released);
    void released.finally(() => releases.delete(released));
  });
  run(gate.open());
}
