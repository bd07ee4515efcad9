#!/usr/bin/env node
// Installs what the test suite needs beyond npm packages: Debian's Chromium (Playwright drives it;
// its own browser download cannot work here), QEMU 7.2 (real VSCard peer), xz-utils (guest image),
// and a real PC/SC stack for @cardlend/pcsc's tests: pcscd with the vpcd virtual reader driver,
// Debian's vicc virtual card (python3-virtualsmartcard + python3-pycryptodome), and ip/unshare/
// nsenter (iproute2, util-linux) to keep vpcd's TCP ports in a private network namespace.
// QEMU 10.0 is fetched into .cache by the tests' own setup. Idempotent: does nothing when all is there.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const needed = [
  { pkg: 'chromium', file: '/usr/bin/chromium' },
  { pkg: 'qemu-system-x86', file: '/usr/bin/qemu-system-x86_64' },
  { pkg: 'xz-utils', file: '/usr/bin/xz' },
  { pkg: 'pcscd', file: '/usr/sbin/pcscd' },
  { pkg: 'vsmartcard-vpcd', file: '/usr/lib/pcsc/drivers/serial/libifdvpcd.so' },
  { pkg: 'python3-virtualsmartcard', file: '/usr/bin/vicc' },
  { pkg: 'python3-pycryptodome', file: '/usr/lib/python3/dist-packages/Cryptodome' },
  { pkg: 'iproute2', file: '/usr/sbin/ip' },
  { pkg: 'util-linux', file: '/usr/bin/nsenter' },
  // The relay cluster's tests start a real Redis-protocol store (issue 15).
  { pkg: 'redis-server', file: '/usr/bin/redis-server' },
];
const missing = needed.filter((n) => !existsSync(n.file)).map((n) => n.pkg);

if (missing.length === 0) {
  console.log('test dependencies: all present');
} else if (typeof process.getuid === 'function' && process.getuid() === 0) {
  console.log(`test dependencies: installing ${missing.join(' ')} with apt-get`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', ...missing], { stdio: 'inherit', env });
} else {
  const sudo = spawnSync('sudo', ['-n', 'true']).status === 0;
  if (!sudo) {
    console.error(
      `test dependencies missing: ${missing.join(' ')}.\n` +
        `Install them with: sudo apt-get install -y ${missing.join(' ')}`,
    );
    process.exit(1);
  }
  execFileSync('sudo', ['apt-get', 'update', '-qq'], { stdio: 'inherit' });
  execFileSync('sudo', ['apt-get', 'install', '-y', '-qq', ...missing], { stdio: 'inherit' });
}
