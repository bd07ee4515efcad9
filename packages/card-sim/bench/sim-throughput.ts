/**
 * Prints how fast the simulator answers (no thresholds: numbers only).
 * - per profile: short APDUs per second through the USB surface with a minimal host;
 * - PIV card: GENERAL AUTHENTICATE RSA 2048 and ECDSA P-256 time per operation.
 * Run: pnpm --filter @cardlend/card-sim bench
 */
import 'reflect-metadata';
import { buildCommandApdu } from '../src/apdu.ts';
import { hexToBytes } from '../src/bytes.ts';
import { getDefaultPivCredentials } from '../src/piv/credentials.ts';
import { createPivDemoCard } from '../src/piv/piv-card.ts';
import { readerProfiles } from '../src/profiles.ts';
import { createT0Card, createT1Card } from '../src/virtual-card.ts';
import { poweredHost } from '../test/helpers/mini-host.ts';
import { signCommand } from '../test/helpers/piv-commands.ts';

const N = 2000;
for (const profile of Object.values(readerProfiles)) {
  const isApdu = (profile.features & 0x00060000) !== 0;
  if (!isApdu && !(profile.protocols & 1)) continue;
  const { host } = await poweredHost(profile, isApdu ? createT1Card() : createT0Card());
  const apdu = hexToBytes('00 20 00 20 20');
  const t0 = performance.now();
  for (let i = 0; i < N; i++) await host.xfr(apdu);
  const ms = performance.now() - t0;
  console.log(
    `${profile.id.padEnd(26)} ${((N / ms) * 1000).toFixed(0).padStart(6)} APDU/s  ${((ms / N) * 1000).toFixed(1)} µs/APDU`,
  );
}

const t = performance.now();
const credentials = await getDefaultPivCredentials();
console.log(
  `PIV credentials (RSA 2048 + P-256 + 2 certificates): ${(performance.now() - t).toFixed(0)} ms`,
);
const card = await createPivDemoCard({ credentials });
await card.process(
  buildCommandApdu({ cla: 0, ins: 0x20, p1: 0, p2: 0x80, data: hexToBytes('313233343536FFFF') }),
);
const block = new Uint8Array(256).fill(0xff);
block[0] = 0;
block[1] = 1;
const rsa = signCommand(0x07, 0x9a, block, 65536);
const ecc = signCommand(0x11, 0x9e, new Uint8Array(32).fill(5), 256);
for (const [name, cmd] of [
  ['RSA 2048 sign (9A)', rsa],
  ['ECDSA P-256 sign (9E)', ecc],
] as const) {
  const n = 20;
  const s = performance.now();
  for (let i = 0; i < n; i++) await card.process(cmd);
  console.log(`${name}: ${((performance.now() - s) / n).toFixed(2)} ms/op`);
}
