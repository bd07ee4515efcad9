// Another program that takes a card exclusively again and again, for tests:
// node exclusive-loop.mjs READER DURATION_MS [hold]
// once READER is there: SCardConnect EXCLUSIVE + SCardDisconnect (leave), then ~5 ms pause,
// for DURATION_MS (with `hold`: one SCardConnect EXCLUSIVE held for DURATION_MS); prints
// 'started' once it began, then one JSON line: { "attempts": n, "failures": { "<code>": n } }.
// It ends with process.exit, never pcsc-mini's client.stop(): stop() can block for good right
// after a connect or disconnect (see src/pcsc-mini-binding.ts); pcscd drops the connection.
import { createRequire } from 'node:module';

const pcsc = createRequire(import.meta.url)('pcsc-mini');
const [readerName, durationText, mode] = process.argv.slice(2);
const durationMs = Number(durationText);
const pause = () => new Promise((resolve) => setTimeout(resolve, 5));

const client = new pcsc.Client();
let isStarted = false;
client.on('reader', async (reader) => {
  if (isStarted || reader.name() !== readerName) return;
  isStarted = true;
  if (mode === 'hold') {
    await hold(reader);
    return;
  }
  process.stdout.write('started\n');
  const failures = {};
  let attempts = 0;
  const end = Date.now() + durationMs;
  while (Date.now() < end) {
    attempts++;
    try {
      const card = await reader.connect(pcsc.CardMode.EXCLUSIVE);
      await card.disconnect(pcsc.CardDisposition.LEAVE);
    } catch (e) {
      const code = String(e?.code ?? e);
      failures[code] = (failures[code] ?? 0) + 1;
    }
    await pause();
  }
  process.stdout.write(`${JSON.stringify({ attempts, failures })}\n`);
  process.exit(0);
});
async function hold(reader) {
  try {
    const card = await reader.connect(pcsc.CardMode.EXCLUSIVE);
    process.stdout.write('started\n');
    await new Promise((resolve) => setTimeout(resolve, durationMs));
    await card.disconnect(pcsc.CardDisposition.LEAVE);
    process.stdout.write(`${JSON.stringify({ attempts: 1, failures: {} })}\n`);
  } catch (e) {
    process.stdout.write(
      `${JSON.stringify({ attempts: 1, failures: { [String(e?.code)]: 1 } })}\n`,
    );
  }
  process.exit(0);
}

client.on('error', (e) => {
  process.stdout.write(`${JSON.stringify({ attempts: 0, failures: { [String(e?.code)]: 1 } })}\n`);
  process.exit(0);
});
client.start();
