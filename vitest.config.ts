import { defineConfig } from 'vitest/config';
import { HangWatchdog } from './packages/qemu-testbed/src/hang-watchdog.ts';

// Every app and package is its own Vitest project (its own vitest.config.ts if it has one).
export default defineConfig({
  test: {
    projects: ['packages/*', 'apps/*'],
    // A worker whose event loop is blocked never fires Vitest's own timeouts: the watchdog
    // reports it and ends it after 10 minutes instead of letting the run wait for CI's limit.
    reporters: ['default', new HangWatchdog()],
  },
});
