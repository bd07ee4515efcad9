import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: '@cardlend/cli',
    include: ['test/**/*.test.ts'],
    // Bundle and single-executable builds, QEMU 10 fetch and guest image build run in beforeAll.
    hookTimeout: 300_000,
    testTimeout: 20_000,
  },
});
