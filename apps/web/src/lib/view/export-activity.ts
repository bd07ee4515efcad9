/** "Export log": the activity log as a JSON download (no PIN data, see apdu-log.ts). */
import { downloadText } from '../adapters/download.ts';
import { exportLog, type LogRow } from '../state/apdu-log.ts';

export function exportActivity(opts: {
  rows: readonly LogRow[];
  dropped: number;
  reader: string | null;
  atr: string | null;
  nowMs?: number;
}): void {
  const now = opts.nowMs ?? Date.now();
  const text = exportLog(opts.rows, {
    exportedAtEpochMs: now,
    reader: opts.reader,
    atr: opts.atr,
    dropped: opts.dropped,
  });
  const stamp = new Date(now).toISOString().replace(/[:.]/g, '-');
  downloadText({ fileName: `cardlend-activity-${stamp}.json`, text, mimeType: 'application/json' });
}
