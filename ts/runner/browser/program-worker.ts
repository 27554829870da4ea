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
import { isPosixToProgram } from '../common/posix/messages.js';
import { Errno } from '../common/posix/ops.js';
import { type PosixRuntime, workerPosixRuntime } from '../common/posix/runtime.js';
import { NoSockets } from '../common/posix/socket-bridge.js';
import type { BrowserWorkerInit, BrowserWorkerMessage, ProgramFileSource } from './messages.js';

/** The parts of DedicatedWorkerGlobalScope used here (the DOM lib types `self` as a Window). */
declare const self: {
  navigator: Navigator;
  location: Location;
  Module?: unknown;
  onmessage: ((e: MessageEvent) => void) | null;
  postMessage(message: unknown, transfer?: Transferable[]): void;
  addEventListener(type: 'error', listener: (e: ErrorEvent) => void): void;
  importScripts(...urls: string[]): void;
  libusbWasmPlugin?: { install(Module: Record<string, unknown>, port: MessagePort): void };
};

const post = (m: BrowserWorkerMessage, transfer: ArrayBuffer[] = []) => self.postMessage(m, transfer);

/**
 * main()'s thread boots while the program loads (or while this worker
 * waits for one, booted ahead): a worker that runs the first script it is
 * sent, which the program's first `new Worker(url)` takes (Emscripten starts
 * main()'s pthread that way).
 */
let bootedThread: Worker | undefined = new Worker(URL.createObjectURL(new Blob(
  ['self.onmessage = (e) => { self.onmessage = null; importScripts(e.data.script); };'], { type: 'text/javascript' })), { name: 'libusb-wasm thread' });

/** `Worker` as the program sees it: the thread booted ahead first, new workers after. */
class ThreadWorker extends Worker {
  constructor(url: string | URL, options?: WorkerOptions) {
    const thread = bootedThread;
    // (a thread started with options of its own cannot be one booted without them)
    if (thread && options === undefined) {
      bootedThread = undefined;
      thread.postMessage({ script: String(url) });
      return thread as ThreadWorker;
    }
    super(url, options);
  }
}
(self as unknown as { Worker: typeof Worker }).Worker = ThreadWorker;

let exiting = false;
let posix: PosixRuntime | undefined;

async function exit(code: number): Promise<void> {
  if (exiting) return;
  exiting = true;
  posix?.end();
  // the page detaches the program from its host when it ends this worker
  post({ t: 'exit', code });
}

/** A program file's contents: fetched (with CORS, so it may come from another origin) or the bytes given. */
async function open(source: ProgramFileSource, what: string): Promise<Response> {
  if (typeof source !== 'string') return new Response(source);
  let r: Response;
  try {
    r = await fetch(source);
  } catch (e) {
    throw new Error(`could not fetch the program's ${what} ${source}: ${(e as Error).message}`
      + (new URL(source).origin === self.location.origin ? '' : ' (another origin must answer with Access-Control-Allow-Origin)'));
  }
  if (!r.ok) throw new Error(`could not fetch the program's ${what} ${source}: HTTP ${r.status}`);
  return r;
}

/**
 * The `.worker.js` file a program's pthreads start from, if it has one
 * (Emscripten 3.1.6 writes one and asks locateFile() for it by name; newer
 * releases start threads from the program's own script, mainScriptUrlOrBlob).
 */
function pthreadWorkerFileOf(js: string): string | undefined {
  return /["']([^"'/\\]+\.worker\.js)["']/.exec(js)?.[1];
}

/**
 * A same-origin URL for the program's .worker.js. The pthreads are workers
 * this worker starts, and `new Worker()` takes no script of another origin
 * (nor a file picked from disk), so the script goes into a blob first.
 */
async function pthreadWorkerUrl(init: BrowserWorkerInit, js: string): Promise<{ file: string; url: string } | undefined> {
  const file = pthreadWorkerFileOf(js);
  if (!file) return undefined;
  const source = init.workerJs ?? (typeof init.js === 'string' ? new URL(file, init.js).href : undefined);
  if (!source) throw new Error(`${init.fileName} starts its threads from ${file}, which emcc wrote next to it: give that file too`);
  const text = await (await open(source, file)).text();
  return { file, url: URL.createObjectURL(new Blob([text], { type: 'text/javascript' })) };
}

async function start(init: BrowserWorkerInit): Promise<void> {
  const name = init.fileName;
  const js = await (await open(init.js, 'JavaScript')).text();
  checkLinked(js, name);
  const pthreadWorker = await pthreadWorkerUrl(init, js);
  posix = workerPosixRuntime(init.terminal, new NoSockets(Errno.ENOSYS, 'TCP sockets need the Node runner: browsers give pages no TCP'),
    post, (status) => void exit(status));
  const Module = createModule({
    programName: name.replace(/\.m?js$/, ''),
    args: init.args,
    env: init.env,
    posix,
    cwd: init.cwd,
    files: init.files,
  }, host!, {
    stdout: (s) => post({ t: 'out', s }),
    stderr: (s) => post({ t: 'err', s }),
    exit: (code) => void exit(code),
    abort: () => void exit(134),
  }, async () => WebAssembly.compile(await (await open(init.wasm, 'WebAssembly')).arrayBuffer()));
  if (init.plugin) {
    self.importScripts(init.plugin.url);
    if (!self.libusbWasmPlugin) throw new Error(`${init.plugin.url} did not set self.libusbWasmPlugin`);
    self.libusbWasmPlugin.install(Module, init.plugin.port);
  }

  // The program's pthreads load their .worker.js from a blob, and the
  // program itself from this one (no second download).
  const blob = new Blob([js], { type: 'text/javascript' });
  Module.locateFile = (path: string) => {
    if (path === pthreadWorker?.file) return pthreadWorker.url;
    return typeof init.js === 'string' ? new URL(path, init.js).href : path;
  };
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

post({ t: 'loaded' });
self.onmessage = (e: MessageEvent) => {
  const m = e.data as BrowserWorkerInit | HostGoneMessage;
  // after init: signals, stdin and the terminal's size, for the POSIX runtime
  if (isPosixToProgram(m)) {
    posix?.receive(m);
    return;
  }
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
