/**
 * Starting the runtime's dedicated workers from any URL. Browsers refuse
 * `new Worker(url)` for a script of another origin (a CDN, an asset host),
 * so such a worker starts from a same-origin blob that importScripts() the
 * real script. The worker then runs with the page's origin, which is what
 * lets it fetch the program, post to the page and use SharedArrayBuffer.
 * @module
 */

/** A dedicated worker running the classic script at `url` (relative to the page), wherever it is served from. */
export function startWorker(url: string | URL, name: string): Worker {
  const script = new URL(url, location.href);
  if (script.origin === location.origin) return new Worker(script, { name });
  const trampoline = URL.createObjectURL(new Blob([`importScripts(${JSON.stringify(script.href)});\n`], { type: 'text/javascript' }));
  try {
    return new Worker(trampoline, { name });
  } finally {
    // the constructor has resolved the blob URL already
    URL.revokeObjectURL(trampoline);
  }
}

/**
 * What to tell the user when a worker failed: its own error once its
 * script runs (it posted `loaded`); before that, the script did not load
 * (not served, not a script, or refused), and what the server must send.
 */
export function workerFailure(event: Event, url: string | URL, loaded: boolean): string {
  const message = (event as ErrorEvent).message;
  if (loaded) return message || 'an error without a message';
  const script = new URL(url, location.href);
  const where = `could not load ${script.href}${message ? `: ${message}` : ''}.`;
  if (script.origin === location.origin) return `${where} Is it served there, as JavaScript, with the Cross-Origin-Embedder-Policy header?`;
  return `${where} A script from another origin needs "Cross-Origin-Resource-Policy: cross-origin" `
    + 'and "Access-Control-Allow-Origin" on its responses (see docs/browser.md).';
}

/** A program worker booted ahead of its program (../common/spare.ts): it waits for its init message. */
export interface BootedProgramWorker {
  worker: Worker;
  /** Its script ran (it posted `loaded`): a later failure is its own, not a load failure. */
  loaded(): boolean;
}

/** Boot a program worker from `url` now; `lost` hears if it fails before it is taken. */
export function bootProgramWorker(url: string | URL, lost: (booted: BootedProgramWorker) => void): BootedProgramWorker {
  const worker = startWorker(url, 'libusb-wasm program');
  let loaded = false;
  const booted: BootedProgramWorker = { worker, loaded: () => loaded };
  worker.onmessage = (e: MessageEvent) => {
    if ((e.data as { t?: string })?.t === 'loaded') loaded = true;
  };
  worker.onerror = (e) => {
    e.preventDefault();
    worker.terminate();
    lost(booted);
  };
  return booted;
}
