/**
 * Paths the relay finds relative to its own code. This module sits one level below
 * apps/relay (src/ when run from source, dist/ in the bundle), so the same relative path
 * works in both.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** apps/web/dist: the built page. */
export function defaultStaticDir(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../web/dist');
}
