/**
 * Browser code of the chain bench's `--page echo` (the floor of any page): a WebSocket to the
 * relay that does the VSCard handshake with the pure client session and then answers every
 * guest APDU with the same prepared answer bytes, sent from the message handler without
 * decoding the message. No bridge, no CCID driver, no reader, no card, no log: what is left of
 * the chain is QEMU → relay → Chromium (network process → renderer) and back. Bundled by
 * esbuild into one classic script exposing `__cardlendEcho.startEcho`.
 */
import {
  encodeMessage,
  relaySubprotocols,
  VscardClientSession,
  VscardDecoder,
  type SessionAction,
} from '@cardlend/vscard';

/** VSCard message type of an APDU (vscard-protocol.md §2). */
const VSC_APDU = 7;

/** Wait before connecting again while QEMU is not listening yet (the relay closes 4010), ms. */
const RETRY_MS = 250;

/**
 * Lends a card that answers every guest command with `answer` through the relay at `wsUrl`
 * (ws://host:port/vscard), connecting again until the VM is there; resolves once the VM has
 * accepted the ATR.
 */
export function startEcho(wsUrl: string, atr: Uint8Array, answer: Uint8Array): Promise<void> {
  return new Promise((resolve) => {
    const attempt = (): void => {
      const isLending = connect(wsUrl, atr, answer, resolve);
      isLending.then((ok) => (ok ? undefined : setTimeout(attempt, RETRY_MS)), attempt);
    };
    attempt();
  });
}

/** One connection; resolves false when it closed before the ATR was accepted. */
function connect(
  wsUrl: string,
  atr: Uint8Array,
  answer: Uint8Array,
  onLending: () => void,
): Promise<boolean> {
  const ws = new WebSocket(wsUrl, relaySubprotocols(undefined, { longAnswers: false }));
  ws.binaryType = 'arraybuffer';
  const session = new VscardClientSession({ readerName: 'echo' });
  const decoder = new VscardDecoder();
  let prepared: Uint8Array | null = null;
  const run = (actions: SessionAction[]): void => {
    for (const a of actions) {
      if (a.type === 'send') ws.send(a.bytes);
      else if (a.type === 'close') ws.close();
      else if (a.type === 'event' && a.event.kind === 'reader-added')
        run(session.insertCard(atr, Date.now()));
      else if (a.type === 'event' && a.event.kind === 'atr-accepted') {
        // From here on, answers go out straight from the message handler (below).
        prepared = encodeMessage({ type: 'APDU', readerId: 0, apdu: answer });
        onLending();
      }
    }
  };
  ws.addEventListener('open', () => run(session.start(Date.now())));
  ws.addEventListener('message', (e) => {
    const data = e.data as ArrayBuffer;
    const view = new DataView(data);
    if (prepared !== null && view.byteLength >= 12 && view.getUint32(0) === VSC_APDU) {
      // The answer carries the reader id of the command it answers.
      prepared.set(new Uint8Array(data, 4, 4), 4);
      ws.send(prepared);
      return;
    }
    for (const m of decoder.push(new Uint8Array(data))) run(session.receive(m, Date.now()));
  });
  return new Promise((resolve) => {
    ws.addEventListener('close', () => resolve(prepared !== null));
  });
}
