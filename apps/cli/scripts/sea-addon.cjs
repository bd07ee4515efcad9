// In the single executable only: stands in for pcsc-mini's build/addon.node.js (which would
// require a platform package from node_modules). The addon travels as the SEA asset
// `pcsc-mini.node`; Node can only load an addon from a file, so it is written to a fresh
// private temporary directory (mkdtemp, mode 0700: no other user can swap the file),
// loaded with process.dlopen, and deleted again (Windows keeps a loaded DLL locked: there
// it is deleted at exit).
'use strict';
/* eslint-disable @typescript-eslint/no-require-imports -- CommonJS: it replaces a CommonJS module of pcsc-mini */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const sea = require('node:sea');

function loadAddon() {
  const bytes = new Uint8Array(sea.getAsset('pcsc-mini.node'));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cardlend-addon-'));
  const file = path.join(dir, 'pcsc-mini.node');
  const cleanup = () => {
    try {
      fs.rmSync(dir, { recursive: true, force: true });
    } catch {
      // a locked DLL on Windows: tried again at exit
    }
  };
  try {
    fs.writeFileSync(file, bytes, { mode: 0o700 });
    const m = { exports: {} };
    process.dlopen(m, file);
    return m.exports;
  } finally {
    cleanup();
    if (fs.existsSync(dir)) process.once('exit', cleanup);
  }
}

module.exports = loadAddon();
