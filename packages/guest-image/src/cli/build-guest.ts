/** `pnpm --filter @cardlend/guest-image build-guest [--cache DIR]`: builds (or finds) the guest image. */
import { buildGuest } from '../build-guest.ts';

const at = process.argv.indexOf('--cache');
const cacheDir = at > 0 ? process.argv[at + 1] : undefined;
const image = await buildGuest({
  ...(cacheDir !== undefined ? { cacheDir } : {}),
  onLog: (line) => process.stderr.write(`${line}\n`),
});
process.stdout.write(`${JSON.stringify(image, null, 2)}\n`);
