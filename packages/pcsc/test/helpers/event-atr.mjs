// The ATRs pcsc-mini gives for READERs, in a process of its own, for pcsc-mini-event-atr.test.ts:
// node event-atr.mjs READER...
// waits for each reader's first `change` event with a card present, then reads the ATR again
// through SCardConnect (shared) + SCardStatus; prints one JSON line
// { "<reader>": { "event": "<hex>", "status": "<hex>" }, ... } or { "error": "..." }.
// It ends with process.exit, never client.stop(): pcsc-mini's stop() joins its watch thread on
// the main thread and blocks for good when its cancel lands between two waits (see
// src/pcsc-mini-binding.ts), which a connect and disconnect just before make likely.
import { createRequire } from 'node:module';

const pcsc = createRequire(import.meta.url)('pcsc-mini');
const names = process.argv.slice(2);
const hex = (b) => Buffer.from(b).toString('hex');

function finish(result, code) {
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(code);
}

async function statusAtr(reader) {
  const card = await reader.connect(pcsc.CardMode.SHARED);
  try {
    return hex((await card.state()).atr);
  } finally {
    await card.disconnect(pcsc.CardDisposition.LEAVE);
  }
}

const client = new pcsc.Client();
const readers = new Map();
const events = new Map();
client.on('reader', (reader) => {
  if (!names.includes(reader.name())) return;
  readers.set(reader.name(), reader);
  reader.on('change', (status, atr) => {
    const isPresent = (status.raw & pcsc.ReaderStatus.PRESENT) !== 0;
    if (!isPresent || events.has(reader.name())) return;
    events.set(reader.name(), hex(atr));
    if (events.size === names.length) void report();
  });
});
client.on('error', (e) => finish({ error: String(e?.code ?? e) }, 1));
client.start();
setTimeout(() => finish({ error: 'no change event with a card for every reader' }, 1), 15_000);

async function report() {
  try {
    const result = {};
    for (const name of names) {
      result[name] = { event: events.get(name), status: await statusAtr(readers.get(name)) };
    }
    finish(result, 0);
  } catch (e) {
    finish({ error: String(e?.code ?? e) }, 1);
  }
}
