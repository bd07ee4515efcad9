/**
 * Issue 11 §3's worker experiment: does running the bridge and the reader (WebUSB, here the
 * simulated reader behind the same driver) in a dedicated worker make the page's share of each
 * guest APDU smaller? The page's lending path (lender-entry.ts, bundled here with esbuild) runs
 * either on the page's main thread (`main`) or in a dedicated worker (`worker`); in both, the
 * main thread keeps a stand-in of the page's live APDU log with the product's rhythm (rows kept
 * for the export; on an animation frame, the newest rows newest first: 20 every 1000 ms while
 * more than 25 arrived since the last refresh, else 200 every 250 ms; apps/web ApduLog), so it
 * has the same kind of rendering work to do while APDUs flow.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { CdpPage } from './cdp.ts';
import { PAGE_TIMING_SCRIPT } from './chain-page.ts';

const benchDir = path.dirname(fileURLToPath(import.meta.url));

/**
 * A bench entry (a file beside this one) as one classic script exposing its exports as
 * `globalName`; the lending path is `bundle('lender-entry.ts', '__cardlendLender')`.
 */
export async function bundle(entry: string, globalName: string): Promise<string> {
  const result = await build({
    entryPoints: [path.join(benchDir, entry)],
    bundle: true,
    format: 'iife',
    globalName,
    platform: 'browser',
    target: 'chrome120',
    write: false,
    logLevel: 'warning',
  });
  const file = result.outputFiles[0];
  if (file === undefined) throw new Error('esbuild wrote nothing');
  return file.text;
}

/**
 * The live log's stand-in (plain JS for the page): keeps up to 500 rows with their hex, and at
 * most every 250 ms, on an animation frame, shows the newest 20 or 200 (as ApduLog does) newest
 * first, reusing the row of an entry already shown (a keyed list, as Svelte's keyed each does).
 */
const LOG_STAND_IN = `(() => {
  const hex = (b) => b === null ? '' : Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  const rows = [];
  const shown = new Map();
  let pending = false;
  let added = 0;
  let trimmed = false;
  const section = document.createElement('section');
  section.innerHTML = '<h2>Card activity (stand-in)</h2><div style="max-height:22rem;overflow:auto"><table style="width:100%;border-collapse:collapse;font-size:.9rem"><tbody></tbody></table></div>';
  document.body.prepend(section);
  const tbody = section.querySelector('tbody');
  const cell = (tr, text) => { const td = document.createElement('td'); td.textContent = text; tr.append(td); };
  const rowOf = (r) => {
    const tr = document.createElement('tr');
    const d = new Date(r.at);
    cell(tr, d.toTimeString().slice(0, 8) + '.' + String(d.getMilliseconds()).padStart(3, '0'));
    cell(tr, r.commandHex.slice(0, 8));
    cell(tr, (r.commandHex.length / 2) + ' B');
    cell(tr, Math.max(0, r.responseHex.length / 2 - 2) + ' B');
    cell(tr, r.responseHex.slice(-4).toUpperCase());
    cell(tr, r.latencyMs < 1 ? '<1 ms' : Math.round(r.latencyMs) + ' ms');
    return tr;
  };
  const schedule = () => {
    if (pending) return;
    pending = true;
    setTimeout(() => requestAnimationFrame(flush), trimmed ? 1000 : 250);
  };
  const flush = () => {
    pending = false;
    trimmed = added > 25;
    added = 0;
    const newest = rows.slice(trimmed ? -20 : -200).reverse();
    const keep = new Set(newest.map((r) => r.id));
    for (const [id, tr] of shown) if (!keep.has(id)) { tr.remove(); shown.delete(id); }
    let before = tbody.firstChild;
    for (const r of newest) {
      let tr = shown.get(r.id);
      if (tr === undefined) { tr = rowOf(r); shown.set(r.id, tr); tbody.insertBefore(tr, before); }
      else before = tr.nextSibling;
    }
    if (trimmed) schedule();
  };
  globalThis.__cardlendLogAdd = (e) => {
    rows.push({ id: e.id, at: Date.now(), commandHex: hex(e.command), responseHex: hex(e.response), latencyMs: e.latencyMs });
    if (rows.length > 500) rows.splice(0, rows.length - 500);
    added++;
    schedule();
  };
})();`;

/**
 * Loads the experiment into the page (after it has loaded) and returns the expression that
 * starts lending; the page's timings come from `__cardlendWorkerTimes()` in worker mode.
 */
export async function startExperimentPage(
  page: CdpPage,
  relayPort: number,
  mode: 'main' | 'worker',
): Promise<string> {
  const lender = await bundle('lender-entry.ts', '__cardlendLender');
  const relayUrl = JSON.stringify(`http://127.0.0.1:${relayPort}`);
  await page.evaluate(LOG_STAND_IN);
  if (mode === 'main') {
    await page.evaluate(lender);
    return `void __cardlendLender.startLending(${relayUrl}, (e) => __cardlendLogAdd(e))`;
  }
  const source = JSON.stringify(`${PAGE_TIMING_SCRIPT}\n${lender}`);
  await page.evaluate(`(() => {
    const url = URL.createObjectURL(new Blob([${source}], { type: 'text/javascript' }));
    const worker = new Worker(url);
    let onTimes = null;
    worker.onmessage = (e) => {
      if (e.data.kind === 'apdu') __cardlendLogAdd(e.data.entry);
      else if (e.data.kind === 'times' && onTimes) onTimes(e.data.times);
      else if (e.data.kind === 'failed') console.error('lending failed', e.data.error);
    };
    globalThis.__cardlendWorker = worker;
    globalThis.__cardlendWorkerTimes = () => new Promise((resolve) => {
      onTimes = resolve;
      worker.postMessage({ kind: 'times' });
    });
  })()`);
  return `void __cardlendWorker.postMessage({ kind: 'start', relayUrl: ${relayUrl} })`;
}
