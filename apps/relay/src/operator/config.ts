/** The config file's `"operator": { "listen": "HOST:PORT", "secretFile": FILE }` (pure). */
import path from 'node:path';
import type { OperatorConfig } from '../config/types.ts';
import { asObject, invalid, parseHostPort } from '../config/values.ts';

export function parseOperatorFile(value: unknown, source: string, baseDir: string): OperatorConfig {
  const o = asObject(value);
  const shape = '{ "listen": "HOST:PORT", "secretFile": FILE }';
  if (!o) throw invalid(`${source}: "operator" must be an object ${shape}`);
  for (const key of Object.keys(o))
    if (key !== 'listen' && key !== 'secretFile')
      throw invalid(`${source}: unknown key "operator.${key}" (allowed: listen, secretFile)`);
  const file = o['secretFile'];
  if (typeof file !== 'string' || file === '')
    throw invalid(`${source}: "operator.secretFile" must be a file path`);
  return {
    listen: parseHostPort(o['listen'], `${source}: "operator.listen"`),
    secretFile: path.resolve(baseDir, file),
  };
}
