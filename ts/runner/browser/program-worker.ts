/**
 * The program's dedicated Web Worker. It loads the Emscripten program into
 * this worker (with -sPROXY_TO_PTHREAD main() runs on a pthread, a nested
 * worker) and links it to the transport host, which runs in a worker of its
 * own (host-worker.ts): on libusb_init the program's memory is
 * posted to the host on `init.host`. The page never blocks.
 *
 * Bundled as a classic script (dist/browser-worker.js): Emscripten's
 * output is a classic script loaded with importScripts().
 * @module
 */
import { HostLink, type HostGoneMessage } from '../common/host-link.js';
import { checkLinked, createModule } from '../common/program.js';
import type { BrowserWorkerInit, BrowserWorkerMessage } from './messages.js';

/** The parts of DedicatedWorkerGlobalScope used here (the DOM lib types `self` as a Window). */
declare const self: {
  navigator: Navigator;
  Module?: unknown;
  onmessage: ((e: MessageEvent) => void) | null;
  postMessage(message: unknown): void;
  addEventListener(type: 'error', listener: (e: ErrorEvent) => void): void;
  importScripts(...urls: string[]): void;
  libusbWasmPlugin?: { install(Module: Record<string, unknown>, port: MessagePort): void };
};

const post = (m: BrowserWorkerMessage) => self.postMessage(m);

let exiting = false;

async function exit(code: number): Promise<void> {
  if (exiting) return;
  exiting = true;
  // the page detaches the program from its host when it ends this worker
  post({ t: 'exit', code });
}

async function fetchOk(url: string, what: string): Promise<Response> {
  let r: Response;
  try {
    r = await fetch(url);
  } catch (e) {
    throw new Error(`could not fetch the program's ${what} ${url}: ${(e as Error).message}`);
  }
  if (!r.ok) throw new Error(`could not fetch the program's ${what} ${url}: HTTP ${r.status}`);
  return r;
}

async function start(init: BrowserWorkerInit): Promise<void> {
  const name = new URL(init.program).pathname.split('/').pop() ?? init.program;
  const js = await (await fetchOk(init.program, 'JavaScript')).text();
  checkLinked(js, name);
  const wasmUrl = new URL(name.replace(/\.m?js$/, '.wasm'), init.program).href;
  const Module = createModule({
    programName: name.replace(/\.m?js$/, ''),
    args: init.args,
    env: init.env,
    stdin: init.stdin,
    cwd: init.cwd,
    files: init.files,
  }, host!, {
    stdout: (s) => post({ t: 'out', s }),
    stderr: (s) => post({ t: 'err', s }),
    exit: (code) => void exit(code),
    abort: () => void exit(134),
  }, async () => WebAssembly.compile(await (await fetchOk(wasmUrl, 'WebAssembly')).arrayBuffer()));
  if (init.plugin) {
    self.importScripts(new URL(init.plugin.url, init.program).href);
    if (!self.libusbWasmPlugin) throw new Error(`${init.plugin.url} did not set self.libusbWasmPlugin`);
    self.libusbWasmPlugin.install(Module, init.plugin.port);
  }

  // The program's pthreads load `<program>.worker.js` next to it, and the
  // program itself from this blob (no second download).
  const blob = new Blob([js], { type: 'text/javascript' });
  Module.locateFile = (path: string) => new URL(path, init.program).href;
  Module.mainScriptUrlOrBlob = blob;
  self.Module = Module;
  const url = URL.createObjectURL(blob);
  try {
    self.importScripts(url);
  } finally {
    URL.revokeObjectURL(url);
  }
  post({ t: 'started' });
}

// Emscripten ends the program by throwing its ExitStatus out of the runtime;
// once we are exiting, that is not an error for the page.
self.addEventListener('error', (e) => {
  if (exiting) e.preventDefault();
});

/** The program's link to its host (made when the page's init message comes). */
let host: HostLink | undefined;

self.onmessage = (e: MessageEvent) => {
  const m = e.data as BrowserWorkerInit | HostGoneMessage;
  // the page saw the host's worker fail: the program's requests fail from now on
  if (m?.t === 'host-gone') {
    host?.hostGone(m.why);
    return;
  }
  if (m?.t !== 'init' || host) return;
  const init = m;
  host = new HostLink(init.host, (s) => post({ t: 'err', s }));
  start(init).catch((err) => {
    post({ t: 'err', s: `libusb-wasm: ${err?.message ?? err}` });
    void exit(1);
  });
};
