import { defineConfig } from 'vitest/config';

// Every app and package is its own Vitest project (its own vitest.config.ts if it has one).
export default defineConfig({
  test: {
    projects: ['packages/*', 'apps/*'],
  },
});
