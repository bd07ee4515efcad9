/**
 * Manual tool (not part of `vitest run`): connects the PIV demo card to a vsmartcard `vpcd`
 * reader of a local pcscd, so OpenSC (opensc-tool, pkcs11-tool) can talk to it on the host.
 *
 *   node tsx test/tools/vpcd-card.ts [port=35963] [host=127.0.0.1]
 *
 * vpcd protocol: each message is a 2-byte big-endian length + payload; a 1-byte payload from the
 * reader is a control code (0 power off, 1 power on, 2 reset, 4 get ATR), anything else an APDU.
 */
import 'reflect-metadata';
import { connect } from 'node:net';
import { bytesToHex } from '../../src/bytes.ts';
import { createPivDemoCard } from '../../src/piv/piv-card.ts';

const port = Number(process.argv[2] ?? 35963);
const host = process.argv[3] ?? '127.0.0.1';
const card = await createPivDemoCard();
const socket = connect(port, host);
let buf = Buffer.alloc(0);

function send(payload: Uint8Array): void {
  const head = Buffer.from([payload.length >> 8, payload.length & 0xff]);
  socket.write(Buffer.concat([head, Buffer.from(payload)]));
}

socket.on('data', (chunk: Buffer) => {
  buf = Buffer.concat([buf, chunk]);
  void drain();
});

let busy = Promise.resolve();
function drain(): Promise<void> {
  busy = busy.then(async () => {
    while (buf.length >= 2) {
      const len = buf.readUInt16BE(0);
      if (buf.length < 2 + len) return;
      const msg = new Uint8Array(buf.subarray(2, 2 + len));
      buf = buf.subarray(2 + len);
      if (len === 1) {
        if (msg[0] === 4) send(card.atr);
        else card.reset?.();
        continue;
      }
      const resp = await card.process(msg);
      console.log(`> ${bytesToHex(msg)}\n< ${bytesToHex(resp)}`);
      send(resp);
    }
  });
  return busy;
}
socket.on('connect', () => console.log(`connected to vpcd ${host}:${port}`));
socket.on('close', () => process.exit(0));
