// A second, independent PC/SC client (its own process and pcsc-lite connection), for tests:
// node second-client.mjs READER APDU_HEX
// connects to READER in shared mode, sends the APDU, prints one JSON line:
// { "ok": true, "response": "9000" } or { "ok": false, "code": "SharingViolation" }.
// It ends with process.exit, never pcsc-mini's client.stop(): stop() can block for good right
// after a connect or disconnect (see src/pcsc-mini-binding.ts); pcscd drops the connection.
import { createRequire } from 'node:module';

const pcsc = createRequire(import.meta.url)('pcsc-mini');
const [readerName, apduHex] = process.argv.slice(2);

function done(result) {
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
}

const client = new pcsc.Client();
let isDone = false;
client.on('reader', async (reader) => {
  if (isDone || reader.name() !== readerName) return;
  isDone = true;
  try {
    const card = await reader.connect(pcsc.CardMode.SHARED);
    const response = await card.transmit(Buffer.from(apduHex, 'hex'));
    await card.disconnect(pcsc.CardDisposition.LEAVE);
    done({ ok: true, response: Buffer.from(response).toString('hex') });
  } catch (e) {
    done({ ok: false, code: e.code });
  }
});
client.on('error', (e) => done({ ok: false, code: e.code }));
client.start();
