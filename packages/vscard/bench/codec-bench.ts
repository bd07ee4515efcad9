/**
 * Codec micro-benchmark: ns per message for the hot paths of the relay and the bridge.
 * Run: pnpm --filter @cardlend/vscard bench
 */
import {
  VscardDecoder,
  VscardFramer,
  decodeMessage,
  encodeMessage,
  validateClientFrame,
  type VscardMessage,
} from '../src/index.ts';

/** A typical guest command (PIV SELECT, vscard-protocol.md §2.7) and a 256-byte answer. */
const command: VscardMessage = {
  type: 'APDU',
  readerId: 0,
  apdu: Uint8Array.from([0x00, 0xa4, 0x04, 0x00, 0x09, 0xa0, 0, 0, 0x03, 0x08, 0, 0, 0x10, 0, 0]),
};
const answer: VscardMessage = { type: 'APDU', readerId: 0, apdu: new Uint8Array(258).fill(0x5a) };
const commandBytes = encodeMessage(command);
const answerBytes = encodeMessage(answer);

function bench(label: string, n: number, perRun: number, fn: () => void): void {
  for (let i = 0; i < Math.min(n, 2000); i++) fn(); // warm-up
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn();
  const ns = Number(process.hrtime.bigint() - t0) / (n * perRun);
  console.log(`${label.padEnd(58)} ${ns.toFixed(1).padStart(8)} ns/message`);
}

const N = 200_000;
let sink = 0;

bench('encodeMessage (APDU, 15-byte command)', N, 1, () => {
  sink += encodeMessage(command).length;
});
bench('encodeMessage (APDU, 258-byte answer)', N, 1, () => {
  sink += encodeMessage(answer).length;
});
bench('decodeMessage (APDU, 15-byte command)', N, 1, () => {
  sink += decodeMessage(commandBytes).type.length;
});
bench('validateClientFrame (APDU answer)', N, 1, () => {
  sink += validateClientFrame(answerBytes).length;
});

const framer = new VscardFramer();
bench('VscardFramer.push, one whole message per chunk', N, 1, () => {
  sink += framer.push(commandBytes).length;
});

const batch = new Uint8Array(commandBytes.length * 16);
for (let i = 0; i < 16; i++) batch.set(commandBytes, i * commandBytes.length);
bench('VscardFramer.push, 16 messages per chunk', N / 16, 16, () => {
  sink += framer.push(batch).length;
});

const header = commandBytes.subarray(0, 12);
const payload = commandBytes.subarray(12);
bench('VscardFramer.push, header and payload in two chunks', N, 1, () => {
  framer.push(header);
  sink += framer.push(payload).length;
});

const split = [
  commandBytes.subarray(0, 5),
  commandBytes.subarray(5, 20),
  commandBytes.subarray(20),
];
bench('VscardFramer.push, message in three chunks', N, 1, () => {
  for (const c of split) sink += framer.push(c).length;
});

const decoder = new VscardDecoder();
bench('VscardDecoder.push, one whole message per chunk', N, 1, () => {
  sink += decoder.push(commandBytes).length;
});

console.log(`(checksum ${sink})`);
