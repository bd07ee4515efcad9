import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: '@cardlend/pcsc',
    include: ['test/**/*.test.ts'],
    // Integration tests start a real pcscd (and vicc, a Python card) on a loaded machine.
    hookTimeout: 60_000,
    testTimeout: 30_000,
  },
});
