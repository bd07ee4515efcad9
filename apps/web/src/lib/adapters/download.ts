/** Save text as a file through the browser's download mechanism (no server round trip). */
export function downloadText(opts: { fileName: string; text: string; mimeType: string }): void {
  const url = URL.createObjectURL(new Blob([opts.text], { type: opts.mimeType }));
  const a = document.createElement('a');
  a.href = url;
  a.download = opts.fileName;
  a.rel = 'noopener';
  document.body.append(a);
  a.click();
  a.remove();
  // Give the browser a moment to start the download before the URL is revoked.
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
