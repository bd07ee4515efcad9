/** The benchmark's browser: a client that announces a reader and answers every guest APDU. */
import { VSC, VscardFramer } from '@cardlend/vscard';
import { CARD_ANSWER } from './bench-common.ts';
import net from 'node:net';
import WebSocket from 'ws';

/** An open session as the phases hold it. */
export interface BrowserSession {
  close(): void;
  /** Set when the session ended before the bench closed it (code and reason). */
  readonly failure: string | undefined;
}

function readerAdd(name: string): Uint8Array {
  const nameBytes = Buffer.from(name, 'utf8');
  const m = Buffer.alloc(12 + nameBytes.length);
  m.writeUInt32BE(VSC.ReaderAdd, 0);
  m.writeUInt32BE(0, 4);
  m.writeUInt32BE(nameBytes.length, 8);
  nameBytes.copy(m, 12);
  return m;
}
const INIT = (() => {
  const m = Buffer.alloc(12 + 12);
  m.writeUInt32BE(VSC.Init, 0);
  m.writeUInt32BE(0, 4);
  m.writeUInt32BE(12, 8);
  m.write('VSCD', 12, 'latin1');
  m.writeUInt32BE(2, 16); // version 0.0.2
  m.writeUInt32BE(0, 20); // capabilities
  return m;
})();

/**
 * Answers every guest APDU in `chunk` (which may hold part of one or several messages) and hands
 * on the host's Init, the reply to ours.
 */
function answerer(
  send: (b: Uint8Array) => void,
  onHostInit: () => void,
): (chunk: Uint8Array) => void {
  const framer = new VscardFramer();
  return (chunk) => {
    for (const f of framer.push(chunk)) {
      if (f.type === VSC.APDU) send(CARD_ANSWER);
      else if (f.type === VSC.Init) onHostInit();
    }
  };
}

/**
 * Announces the reader as the page does: Init first, the ReaderAdd once the host's Init has
 * answered it (the relay's forward guard lets one control message await its reply at a time).
 */
function announcer(name: string): {
  start(send: (b: Uint8Array) => void): void;
  onHostInit(): void;
} {
  let send: ((b: Uint8Array) => void) | undefined;
  return {
    start(s) {
      send = s;
      send(INIT);
    },
    onHostInit() {
      send?.(readerAdd(name));
      send = undefined;
    },
  };
}

/** How a session ended: the first failure seen, unless the bench was closing it. */
interface Ending {
  failure: string | undefined;
  isClosing: boolean;
}

/** A session on an open transport, announced by `announce`; `end` closes the transport. */
function announced(
  send: (b: Uint8Array) => void,
  announce: ReturnType<typeof announcer>,
  ending: Ending,
  end: () => void,
): BrowserSession {
  announce.start(send);
  return {
    close: () => {
      ending.isClosing = true;
      end();
    },
    get failure() {
      return ending.failure;
    },
  };
}

/** A browser on a WebSocket endpoint (the relay, the bare pipe, websockify). */
export function openWsBrowser(
  url: string,
  protocols: string[],
  name: string,
  timeoutMs: number,
): Promise<BrowserSession> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, {
      perMessageDeflate: false,
      handshakeTimeout: timeoutMs,
    });
    const ending: Ending = { failure: undefined, isClosing: false };
    let isOpen = false;
    ws.binaryType = 'nodebuffer';
    const send = (b: Uint8Array) => ws.send(b);
    const announce = announcer(name);
    const onData = answerer(send, () => announce.onHostInit());
    ws.on('message', (d: Buffer) => onData(d));
    ws.on('error', (e) => {
      ending.failure ??= `error: ${e.message}`;
      if (!isOpen) reject(new Error(ending.failure));
    });
    ws.on('close', (code, reason) => {
      if (!ending.isClosing) ending.failure ??= `closed ${code} ${reason.toString()}`;
      if (!isOpen) reject(new Error(ending.failure ?? 'closed'));
    });
    ws.on('open', () => {
      isOpen = true;
      resolve(announced(send, announce, ending, () => ws.terminate()));
    });
  });
}

/** A direct TCP client of the VSCard host (no relay). */
export function openTcpBrowser(port: number, name: string): Promise<BrowserSession> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port, noDelay: true });
    const ending: Ending = { failure: undefined, isClosing: false };
    const send = (b: Uint8Array) => s.write(b);
    const announce = announcer(name);
    s.on(
      'data',
      answerer(send, () => announce.onHostInit()),
    );
    s.on('error', (e) => {
      ending.failure ??= `error: ${e.message}`;
      reject(e);
    });
    s.on('close', () => {
      if (!ending.isClosing) ending.failure ??= 'closed';
    });
    s.on('connect', () => resolve(announced(send, announce, ending, () => s.destroy())));
  });
}
