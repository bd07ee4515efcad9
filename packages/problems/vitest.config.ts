import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: '@cardlend/problems',
    include: ['test/**/*.test.ts'],
  },
});
