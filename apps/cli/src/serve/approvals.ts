/**
 * The origins the person approved, remembered in a small JSON file in the user's config
 * directory (`$XDG_CONFIG_HOME/cardlend/helper-origins.json`, `~/.config/…` by default;
 * `%APPDATA%\cardlend\…` on Windows; `~/Library/Application Support/cardlend/…` on macOS),
 * plus the origins pre-approved on the command line (`--allow-origin`, never written).
 * The file is read on every check, so `cardlend serve --revoke` in another terminal takes
 * effect for the next connection.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

/** One remembered approval. */
export interface Approval {
  readonly origin: string;
  /** ISO time of the approval. */
  readonly approvedAt: string;
}

/** The approvals file of this user. */
export function approvalsPath(
  env: Readonly<Record<string, string | undefined>>,
  platform: string = process.platform,
  home: string = homedir(),
): string {
  const file = 'helper-origins.json';
  const own = env['CARDLEND_CONFIG_DIR'];
  if (own !== undefined && own !== '') return join(own, file);
  if (platform === 'win32')
    return join(env['APPDATA'] ?? join(home, 'AppData', 'Roaming'), 'cardlend', file);
  if (platform === 'darwin') return join(home, 'Library', 'Application Support', 'cardlend', file);
  const xdg = env['XDG_CONFIG_HOME'];
  return join(
    xdg !== undefined && xdg.startsWith('/') ? xdg : join(home, '.config'),
    'cardlend',
    file,
  );
}

function isApproval(v: unknown): v is Approval {
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof (v as Approval).origin === 'string' &&
    typeof (v as Approval).approvedAt === 'string'
  );
}

/** The approvals in `path`: none when the file is missing; a damaged file counts as empty. */
export function readApprovals(path: string): Approval[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  try {
    const doc = JSON.parse(text) as { origins?: unknown };
    return Array.isArray(doc.origins) ? doc.origins.filter(isApproval) : [];
  } catch {
    return [];
  }
}

/** Writes `approvals` to `path` (created with its directory, readable by the user only). */
export function writeApprovals(path: string, approvals: readonly Approval[]): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify({ version: 1, origins: approvals }, null, 2)}\n`, {
    mode: 0o600,
  });
  renameSync(tmp, path);
}

/** Approved origins: the file's and the command line's. */
export class ApprovalStore {
  readonly path: string;
  readonly #preApproved: ReadonlySet<string>;
  readonly #now: () => number;

  constructor(path: string, preApproved: readonly string[], now: () => number) {
    this.path = path;
    this.#preApproved = new Set(preApproved);
    this.#now = now;
  }

  isApproved(origin: string): boolean {
    return (
      this.#preApproved.has(origin) || readApprovals(this.path).some((a) => a.origin === origin)
    );
  }

  /** Remembers `origin` (once). */
  approve(origin: string): void {
    const list = readApprovals(this.path);
    if (list.some((a) => a.origin === origin)) return;
    writeApprovals(this.path, [
      ...list,
      { origin, approvedAt: new Date(this.#now()).toISOString() },
    ]);
  }

  /** Forgets `origin`; whether it was remembered. */
  revoke(origin: string): boolean {
    const list = readApprovals(this.path);
    const kept = list.filter((a) => a.origin !== origin);
    if (kept.length === list.length) return false;
    writeApprovals(this.path, kept);
    return true;
  }

  /** The remembered approvals (not the command line's). */
  list(): Approval[] {
    return readApprovals(this.path);
  }

  get preApproved(): readonly string[] {
    return [...this.#preApproved];
  }
}
