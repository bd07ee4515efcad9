/** `pnpm --filter @cardlend/qemu-testbed fetch-qemu10`: unpack QEMU 10.0 into <repo>/.cache/qemu10. */
import { execFileSync } from 'node:child_process';
import { ensureQemu10 } from '../qemu10.ts';

const install = await ensureQemu10({
  onLog: (line) => process.stderr.write(`fetch-qemu10: ${line}\n`),
});
const version = execFileSync(install.binary, [...install.args, '--version'], {
  env: { ...process.env, ...install.env },
  encoding: 'utf8',
}).split('\n')[0];
process.stdout.write(`${install.binary}\n${version}\n`);
