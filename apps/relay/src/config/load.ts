/**
 * From argv to a running configuration, in two stages: parse (pure: the command line, the
 * config file's JSON, cross-checks; precise errors naming the flag or key) and load (read the
 * token secrets and check the TLS files). `io` stands in for the file system in tests.
 */
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { parseSecret } from '../auth/tokens.ts';
import { RelayError } from '../errors.ts';
import { defaultStaticDir } from '../paths.ts';
import { loadVmTlsFiles, loadWebTlsFiles, readFileBytes, type ReadBytes } from '../tls-files.ts';
import { loadOperatorTlsFiles } from '../operator/tls.ts';
import { loadLinkTlsFiles } from '../cluster/link-tls.ts';
import { applyFlags, parseCommandLine } from './args.ts';
import { applyConfigFile } from './file.ts';
import { configDefaults, type ConfigDraft, type RelayConfig } from './types.ts';
import { validateConfig } from './validate.ts';
import { invalid } from './values.ts';

/** Result of {@link parseArgs}. */
export type ParsedArgs = { kind: 'help' } | { kind: 'run'; config: RelayConfig };

/** What parsing and loading read from the outside world. */
export interface ConfigIo {
  /** Reads the config file as text. Default `readFileSync(file, 'utf8')`. */
  readFile?: (file: string) => string;
  /** Reads secret and PEM files. Default `readFileSync`. */
  readBytes?: ReadBytes;
  /** Relative paths on the command line are resolved against this. Default `process.cwd()`. */
  cwd?: string;
}

/** The defaults as a draft. */
export function defaultDraft(): ConfigDraft {
  const { tokenSecrets: _none, ...rest } = configDefaults(defaultStaticDir());
  return { ...rest, tokenSecretFiles: [] };
}

/**
 * Parses the relay's argv (without `node script`) and the config file it names, then loads
 * the files the result names. Throws {@link RelayError} `RELAY_CONFIG_INVALID` with a precise
 * message.
 */
export function parseArgs(argv: readonly string[], io: ConfigIo = {}): ParsedArgs {
  const command = parseCommandLine(argv);
  if (command.kind === 'help') return command;
  const cwd = io.cwd ?? process.cwd();
  const draft = defaultDraft();
  const file = command.flags.values.get('config');
  if (file !== undefined) {
    const full = path.resolve(cwd, file);
    const json = readConfigFile(full, io.readFile ?? ((f) => readFileSync(f, 'utf8')));
    applyConfigFile(draft, json, full, path.dirname(full));
  }
  applyFlags(draft, command.flags, cwd);
  validateConfig(draft);
  return { kind: 'run', config: loadConfig(draft, io.readBytes ?? readFileBytes) };
}

function readConfigFile(full: string, readFile: (file: string) => string): unknown {
  let text: string;
  try {
    text = readFile(full);
  } catch (e) {
    throw invalid(`--config: cannot read ${full}: ${(e as Error).message}`, e);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw invalid(`${full}: not valid JSON: ${(e as Error).message}`, e);
  }
}

/**
 * The load stage: reads the token secrets, checks that the TLS files can be read (the VM
 * listener's, the operator API's and the cluster link's are parsed and cross-checked), and
 * gives TLS dial-in targets the VM listener's address (banner, logs).
 */
export function loadConfig(draft: ConfigDraft, readBytes: ReadBytes = readFileBytes): RelayConfig {
  const { tokenSecretFiles, tokenSecretSetting, ...rest } = draft;
  const tokenSecrets =
    tokenSecretFiles.length === 0
      ? []
      : loadSecrets(tokenSecretFiles, readBytes, tokenSecretSetting ?? 'token secrets');
  if (rest.tls) loadWebTlsFiles(rest.tls, readBytes);
  if (rest.vmTls) loadVmTlsFiles(rest.vmTls, readBytes);
  if (rest.operator?.tls) loadOperatorTlsFiles(rest.operator.tls, readBytes);
  if (rest.cluster?.linkTls) loadLinkTlsFiles(rest.cluster.linkTls, readBytes);
  const config: RelayConfig = { ...rest, targets: { ...rest.targets }, tokenSecrets };
  for (const [id, t] of Object.entries(config.targets)) {
    if (t.vmCert && config.vmTls) config.targets[id] = { ...t, ...config.vmTls.listen };
  }
  return config;
}

/** Reads token secret files (current first). */
export function loadSecrets(
  files: readonly string[],
  readBytes: ReadBytes,
  what: string,
): Uint8Array[] {
  if (files.length === 0 || files.length > 2)
    throw invalid(`${what}: give one or two secret files (current, previous)`);
  return files.map((file) => {
    let bytes: Uint8Array;
    try {
      bytes = readBytes(file);
    } catch (e) {
      throw invalid(`${what}: cannot read ${file}: ${(e as Error).message}`, e);
    }
    try {
      return parseSecret(bytes);
    } catch (e) {
      throw new RelayError('RELAY_CONFIG_INVALID', `${what}: ${file}: ${(e as Error).message}`, {
        cause: e,
      });
    }
  });
}
