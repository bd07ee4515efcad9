/**
 * The least a lender can do, as a separate process: one WebSocket to the bench's VM, Init /
 * ReaderAdd / ATR, then every guest command straight to the PC/SC reader (@cardlend/pcsc) and
 * its answer back. No bridge, no session state machine, no log. The benchmark compares the
 * CLI against it to tell the CLI's own cost from the loopback WebSocket hop.
 *
 *   node --import tsx bench/bare-lender.ts <ws url> <reader name>
 */
import { openReader } from '@cardlend/pcsc';
import { decodeMessage, encodeMessage, RELAY_SUBPROTOCOL } from '@cardlend/vscard';
import { WebSocket } from 'ws';

const [url, name] = process.argv.slice(2);
if (url === undefined || name === undefined) throw new Error('usage: bare-lender <url> <reader>');
const reader = await openReader(name);
const { atr } = await reader.powerOn();
const ws = new WebSocket(url, [RELAY_SUBPROTOCOL], { perMessageDeflate: false });
const send = (m: Parameters<typeof encodeMessage>[0]): void =>
  ws.send(encodeMessage(m, { errorCodeByteOrder: 'le' }));
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
  void reader.transmit(m.apdu).then((answer) => send({ type: 'APDU', readerId: 0, apdu: answer }));
});
const stop = (): void => {
  ws.close(1000);
  void reader.close().finally(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
