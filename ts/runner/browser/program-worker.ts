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
import { hostConnection } from '../common/host-service.js';
import { checkLinked, createModule } from '../common/program.js';
import { isPosixToProgram } from '../common/posix/messages.js';
import { Errno } from '../common/posix/ops.js';
import { PosixRuntime } from '../common/posix/runtime.js';
import { NoSockets } from '../common/posix/socket-bridge.js';
import type { BrowserWorkerInit, BrowserWorkerMessage } from './messages.js';

/** The parts of DedicatedWorkerGlobalScope used here (the DOM lib types `self` as a Window). */
declare const self: {
  navigator: Navigator;
  Module?: unknown;
  onmessage: ((e: MessageEvent) => void) | null;
  postMessage(message: unknown, transfer?: Transferable[]): void;
  addEventListener(type: 'error', listener: (e: ErrorEvent) => void): void;
  importScripts(...urls: string[]): void;
  libusbWasmPlugin?: { install(Module: Record<string, unknown>, port: MessagePort): void };
};

const post = (m: BrowserWorkerMessage, transfer: ArrayBuffer[] = []) => self.postMessage(m, transfer);

let exiting = false;
let posix: PosixRuntime | undefined;

async function exit(code: number): Promise<void> {
  if (exiting) return;
  exiting = true;
  posix?.end();
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
  posix = new PosixRuntime({
    terminal: init.terminal,
    sockets: new NoSockets(Errno.ENOSYS, 'TCP sockets need the Node runner: browsers give pages no TCP'),
    write: (stream, bytes) => post({ t: 'write', stream, data: bytes }, [bytes.buffer as ArrayBuffer]),
    toCaller: (m) => post(m),
    terminate: (status) => void exit(status),
    stderr: (s) => post({ t: 'err', s }),
  });
  const Module = createModule({
    programName: name.replace(/\.m?js$/, ''),
    args: init.args,
    env: init.env,
    posix,
    cwd: init.cwd,
    files: init.files,
  }, hostConnection(init.host), {
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

self.onmessage = (e: MessageEvent) => {
  const init = e.data as BrowserWorkerInit;
  if (init?.t !== 'init') return;
  // after init: signals, stdin and the terminal's size, for the POSIX runtime
  self.onmessage = (message: MessageEvent) => {
    if (isPosixToProgram(message.data)) posix?.receive(message.data);
  };
  start(init).catch((err) => {
    post({ t: 'err', s: `libusb-wasm: ${err?.message ?? err}` });
    void exit(1);
  });
};
