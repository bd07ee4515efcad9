/**
 * The config file's `"operator": { "listen": "HOST:PORT", "secretFile": FILE, "tls"?: { "cert":
 * FILE, "key": FILE, "ca": FILE } }` (pure; paths relative to the config file).
 */
import path from 'node:path';
import type { OperatorConfig } from '../config/types.ts';
import {
  asObject,
  certKeyCaFiles,
  checkKnownKeys,
  invalid,
  parseHostPort,
} from '../config/values.ts';

const OPERATOR_KEYS = ['listen', 'secretFile', 'tls'] as const;

export function parseOperatorFile(value: unknown, source: string, baseDir: string): OperatorConfig {
  const o = asObject(value);
  const shape = '{ "listen": "HOST:PORT", "secretFile": FILE, "tls"?: { "cert", "key", "ca" } }';
  if (!o) throw invalid(`${source}: "operator" must be an object ${shape}`);
  checkKnownKeys(o, OPERATOR_KEYS, source, 'operator');
  const file = o['secretFile'];
  if (typeof file !== 'string' || file === '')
    throw invalid(`${source}: "operator.secretFile" must be a file path`);
  return {
    listen: parseHostPort(o['listen'], `${source}: "operator.listen"`),
    secretFile: path.resolve(baseDir, file),
    ...('tls' in o ? { tls: certKeyCaFiles(o['tls'], source, 'operator.tls', baseDir) } : {}),
  };
}
