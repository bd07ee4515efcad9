/**
 * The least a lender can do, as a separate process: one WebSocket to the bench's VM, Init /
 * ReaderAdd / ATR, then every guest command straight to the PC/SC reader (@cardlend/pcsc) and
 * its answer back. No bridge, no session state machine, no log. The benchmark compares the
 * CLI against it to tell the CLI's own cost from what any separate lender pays.
 *
 * With `--echo` there is no reader at all: every guest command is answered at once with a
 * fixed 18-byte answer (the size of the card's). That is the floor of the measurement: one
 * WebSocket round trip between two idle-between-commands Node processes.
 *
 *   node --import tsx bench/bare-lender.ts <ws url> <reader name | --echo>
 */
import { openReader } from '@cardlend/pcsc';
import { decodeMessage, encodeMessage, RELAY_SUBPROTOCOL } from '@cardlend/vscard';
import type { VscardMessage } from '@cardlend/vscard';
import { WebSocket } from 'ws';

/** A T=1 ATR for the echo mode (the VM stand-in only acknowledges it). */
const ECHO_ATR = Uint8Array.from([0x3b, 0x80, 0x80, 0x01, 0x01]);
const ECHO_ANSWER = Uint8Array.from([...Array.from({ length: 16 }, (_, i) => i), 0x90, 0x00]);

const [url, name] = process.argv.slice(2);
if (url === undefined || name === undefined)
  throw new Error('usage: bare-lender <url> <reader | --echo>');
const reader = name === '--echo' ? null : await openReader(name);
const atr = reader === null ? ECHO_ATR : (await reader.powerOn()).atr;
const ws = new WebSocket(url, [RELAY_SUBPROTOCOL], { perMessageDeflate: false });
const send = (m: VscardMessage): void => ws.send(encodeMessage(m, { errorCodeByteOrder: 'le' }));
ws.on('open', () => {
  send({
    type: 'Init',
    readerId: 0,
    magic: Uint8Array.from([0x56, 0x53, 0x43, 0x44]),
    version: 2,
    capabilities: [0],
  });
  send({ type: 'ReaderAdd', readerId: 0, name });
  send({ type: 'ATR', readerId: 0, atr });
});
ws.on('message', (data: Buffer) => {
  const m = decodeMessage(new Uint8Array(data));
  if (m.type !== 'APDU') return;
  if (reader === null) send({ type: 'APDU', readerId: 0, apdu: ECHO_ANSWER });
  else
    void reader
      .transmit(m.apdu)
      .then((answer) => send({ type: 'APDU', readerId: 0, apdu: answer }));
});
const stop = (): void => {
  ws.close(1000);
  void (reader?.close() ?? Promise.resolve()).finally(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
