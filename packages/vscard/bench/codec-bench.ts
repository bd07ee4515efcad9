/**
 * Codec micro-benchmark: ns per message for the hot paths of the relay and the bridge, and per
 * guest APDU for the page's session round trip and the relay's guard.
 * Run: pnpm --filter @cardlend/vscard bench
 */
import {
  ForwardGuard,
  VSC,
  VscardClientSession,
  VscardDecoder,
  VscardFramer,
  decodeMessage,
  encodeMessage,
  validateClientFrame,
  type SessionAction,
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

/** QEMU's Init reply. */
const hostInit: VscardMessage = {
  type: 'Init',
  readerId: 0,
  magic: Uint8Array.of(0x56, 0x53, 0x43, 0x44),
  version: 2,
  capabilities: [0],
};

/** A session with a card in (Init, ReaderAdd, ATR acknowledged), as the page holds one. */
function sessionWithCard(): VscardClientSession {
  const s = new VscardClientSession();
  const ack = decodeMessage(encodeMessage({ type: 'Error', readerId: 0, code: 0 }));
  s.start(0);
  s.receive(hostInit, 0);
  s.receive(ack, 0);
  s.insertCard(Uint8Array.of(0x3b, 0x02, 0x41, 0x42), 0);
  s.receive(ack, 0);
  return s;
}

const session = sessionWithCard();
const fci = new Uint8Array(40).fill(0x6f);
bench('page: decode + session.receive + answerApdu + validate, per APDU', N, 1, () => {
  const actions: SessionAction[] = session.receive(decodeMessage(commandBytes), 0);
  const a = actions[0];
  if (a?.type !== 'apdu') throw new Error('no guest command');
  for (const x of session.answerApdu(a.id, fci.slice(), 0)) {
    if (x.type === 'send') sink += validateClientFrame(x.bytes).length;
  }
});

const guard = new ForwardGuard();
guard.toVm(encodeMessage({ type: 'ATR', readerId: 0, atr: Uint8Array.of(0x3b, 0x02, 0x41, 0x42) }));
guard.fromVm({ type: VSC.Error });
const fromVm = { type: VSC.APDU };
const probeReply = { type: VSC.Init };
bench('relay: ForwardGuard fromVm (command) + toVm (258-byte answer)', N, 1, () => {
  guard.fromVm(fromVm);
  const d = guard.toVm(answerBytes);
  if (d.action !== 'forward') throw new Error(`refused: ${d.reason}`);
  // QEMU answers the guard's probe at once: its buffer is proven empty again.
  if (d.probe) guard.fromVm(probeReply);
  sink += d.action.length;
});

console.log(`(checksum ${sink})`);
