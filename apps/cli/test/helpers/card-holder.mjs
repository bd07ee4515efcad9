// Another program holding a card, for tests: node card-holder.mjs READER
// With the test pcscd (PCSCLITE_CSOCK_NAME, inherited), once READER is there: SCardConnect
// EXCLUSIVE, then prints 'held' (or one JSON line { "error": "<code>" } and exits 1). It holds
// the card until stdin closes or a line 'release' arrives, then SCardDisconnect (leave) and exit 0.
// It ends with process.exit, never pcsc-mini's client.stop(): stop() can block for good right
// after a connect or disconnect (see packages/pcsc/src/pcsc-mini-binding.ts); pcscd drops the
// connection.
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';

const pcsc = createRequire(import.meta.url)('pcsc-mini');
const [readerName] = process.argv.slice(2);

function fail(e) {
  process.stdout.write(`${JSON.stringify({ error: String(e?.code ?? e) })}\n`);
  process.exit(1);
}

let card = null;
let isReleasing = false;
async function release() {
  if (isReleasing) return;
  isReleasing = true;
  if (card === null) process.exit(0); // not held (yet): nothing to let go
  try {
    await card.disconnect(pcsc.CardDisposition.LEAVE);
  } catch (e) {
    fail(e);
  }
  process.exit(0);
}

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  if (line.trim() === 'release') void release();
});
lines.on('close', () => void release());

const client = new pcsc.Client();
let isStarted = false;
client.on('reader', async (reader) => {
  if (isStarted || reader.name() !== readerName) return;
  isStarted = true;
  try {
    card = await reader.connect(pcsc.CardMode.EXCLUSIVE);
    process.stdout.write('held\n');
  } catch (e) {
    fail(e);
  }
});
client.on('error', fail);
client.start();
