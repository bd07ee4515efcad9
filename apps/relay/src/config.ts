/**
 * Relay configuration: command-line flags and an optional JSON file, validated up front with
 * messages that name the offending flag or key; flags override the file. The parts:
 * config/types.ts (the data and defaults), config/values.ts (single values),
 * config/args.ts (the command line, `node:util` parseArgs), config/file.ts (the JSON file),
 * config/validate.ts (cross-field checks) — all pure — and config/load.ts, which reads the
 * files a parsed configuration names.
 */
import { defaultStaticDir } from './paths.ts';
import { configDefaults, type RelayConfig } from './config/types.ts';

export type { HostPort, RelayConfig, TargetConfig } from './config/types.ts';
export { parseHostPort } from './config/values.ts';
export { HELP_TEXT } from './config/args.ts';
export { parseArgs } from './config/load.ts';
export { defaultStaticDir } from './paths.ts';

/** The defaults (no token secrets; the page from apps/web/dist). */
export function defaultConfig(): RelayConfig {
  return configDefaults(defaultStaticDir());
}
