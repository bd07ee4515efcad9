/**
 * `ccid` CLI entry for Node: drives real readers through the `usb` package's WebUSB implementation
 * (node-usb; loaded on demand so the browser build never sees it). Chrome's protected-class block does
 * not apply here. Usage: `pnpm --filter @cardlend/ccid cli list | atr | apdu <hex>…`.
 */
import { runCli } from '../src/cli/cli.ts';

async function nodeUsbDevices(): Promise<USBDevice[]> {
  // Loaded on demand: only this Node entry needs node-usb (a dev dependency of this package).
  const { WebUSB } = await import('usb');
  return new WebUSB({ allowAllDevices: true }).getDevices();
}

const code = await runCli(process.argv.slice(2), {
  getDevices: nodeUsbDevices,
  stdout: (l) => process.stdout.write(`${l}\n`),
  stderr: (l) => process.stderr.write(`${l}\n`),
});
process.exit(code);
