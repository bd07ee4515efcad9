/**
 * What the chain bench runs inside the page, as plain JS text (tsx would add esbuild helpers
 * such as `__name` to a serialised function).
 */

/** VSCard message type of an APDU (vscard-protocol.md §2). */
const VSC_APDU = 7;

/**
 * Added before the page's own scripts: notes, for each guest APDU the page receives, when its
 * WebSocket message handler ran and when the answer was given to send() (epoch ms, the page's
 * performance.timeOrigin + now()), and when the first one arrived. The message listener is
 * added in the constructor, before the bridge's own handler. Works in a window and a worker.
 */
export const PAGE_TIMING_SCRIPT = `(() => {
  const msgAt = [];
  const sendAt = [];
  let inAt = 0;
  const origin = performance.timeOrigin;
  globalThis.__cardlendFirstApduEpochMs = null;
  const isApdu = (d) => {
    const v = d instanceof ArrayBuffer ? new DataView(d)
      : ArrayBuffer.isView(d) ? new DataView(d.buffer, d.byteOffset, d.byteLength) : null;
    return v !== null && v.byteLength >= 12 && v.getUint32(0) === ${VSC_APDU};
  };
  globalThis.__cardlendPageTimes = () => ({ msgAt, sendAt });
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    if (inAt !== 0 && isApdu(data)) {
      msgAt.push(inAt);
      sendAt.push(origin + performance.now());
      inAt = 0;
    }
    return send.call(this, data);
  };
  const Base = WebSocket;
  globalThis.WebSocket = class extends Base {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', (e) => {
        if (!isApdu(e.data)) return;
        inAt = origin + performance.now();
        globalThis.__cardlendFirstApduEpochMs ??= inAt;
      });
    }
  };
})();`;

/** The "Try a virtual card" button of the page, as an expression. */
export const TRY_BUTTON = `[...document.querySelectorAll('button')].find((b) => b.textContent.includes('Try a virtual card'))`;

/** The page's visibility as a user would have it, as an expression (JSON). */
export const VISIBILITY = `({ visibility: document.visibilityState, hasFocus: document.hasFocus() })`;
