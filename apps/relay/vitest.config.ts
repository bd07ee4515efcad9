import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: '@cardlend/relay',
    include: ['test/**/*.test.ts'],
    // QEMU 10 may be fetched in beforeAll (a few seconds from a clean machine).
    hookTimeout: 120_000,
    testTimeout: 20_000,
  },
});
