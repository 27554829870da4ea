/**
 * The program's dedicated Web Worker. It builds the webusb transport (over
 * the worker's own `navigator.usb`, or simulated devices behind its shape)
 * and the transport host, then loads the Emscripten program into this same
 * worker. With -sPROXY_TO_PTHREAD the program's main() runs on a pthread (a
 * nested worker), so this worker's event loop stays free for the host and
 * for WebUSB's promises, and the page never blocks.
 *
 * Bundled as a classic script (dist/browser-worker.js): Emscripten's
 * output is a classic script loaded with importScripts().
 * @module
 */
import * as Comlink from 'comlink';
import { TransportHost } from '../host/host.js';
import { SimBus } from '../sim/bus.js';
import { createDevice } from '../sim/models/index.js';
import { SimUSB } from '../sim/webusb-shape.js';
import { WebUsbTransport } from '../transports/webusb.js';
import type { USBLike } from '../transports/webusb-types.js';
import { checkLinked, createModule } from './program.js';
import { SimControl } from './sim-control.js';
import type { BrowserWorkerInit, BrowserWorkerMessage } from './browser-protocol.js';

/** The parts of DedicatedWorkerGlobalScope used here (the DOM lib types `self` as a Window). */
declare const self: {
  navigator: Navigator;
  Module?: unknown;
  onmessage: ((e: MessageEvent) => void) | null;
  postMessage(message: unknown): void;
  addEventListener(type: 'error', listener: (e: ErrorEvent) => void): void;
  importScripts(...urls: string[]): void;
};

const post = (m: BrowserWorkerMessage) => self.postMessage(m);

let host: TransportHost | undefined;
let simControl: SimControl | undefined;
let exiting = false;

/** What the page can ask of a running program (through comlink). */
export interface BrowserWorkerControl {
  /** The simulated devices (sim transport only). */
  sim?: SimControl;
  /** Look again at the granted devices (after requestDevice() on the page). */
  rescan(): Promise<void>;
  /** Libusb contexts with a thread blocked in event handling. */
  waitingContexts(): number;
}

function createTransport(init: BrowserWorkerInit): WebUsbTransport {
  const log = (m: string) => post({ t: 'err', s: m });
  if (init.transport.kind === 'sim') {
    const bus = new SimBus();
    const devices = init.transport.devices.map((d) => createDevice(d));
    for (const d of devices) bus.plug(d);
    simControl = new SimControl(bus, devices, () => host);
    return new WebUsbTransport(new SimUSB(bus, { protectedClasses: init.transport.protectedClasses }), { log });
  }
  const usb = (self.navigator as Navigator & { usb?: USBLike }).usb;
  if (!usb) {
    throw new Error('navigator.usb is not available in this worker. WebUSB in dedicated workers needs Chrome or Edge 118 '
      + 'or newer, and a secure context (https, or http://localhost).');
  }
  return new WebUsbTransport(usb, { log });
}

async function exit(code: number): Promise<void> {
  if (exiting) return;
  exiting = true;
  let devices: unknown[] | undefined;
  try {
    devices = simControl?.list().map((d) => simControl!.inspect(d.index));
  } catch {
    devices = undefined;
  }
  // release interfaces and close devices before the page ends this worker
  await host?.stop().catch(() => {});
  post({ t: 'exit', code, devices });
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
  const transport = createTransport(init);
  const control: BrowserWorkerControl = {
    sim: simControl,
    rescan: () => transport.rescan(),
    waitingContexts: () => host?.waitingContexts() ?? 0,
  };
  Comlink.expose(control, init.control);
  host = new TransportHost(transport, { spinMicros: init.spinMicros, log: (m) => post({ t: 'err', s: m }) });

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
  }, host, {
    stdout: (s) => post({ t: 'out', s }),
    stderr: (s) => post({ t: 'err', s }),
    exit: (code) => void exit(code),
    abort: () => void exit(134),
  }, async () => WebAssembly.compile(await (await fetchOk(wasmUrl, 'WebAssembly')).arrayBuffer()));

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
  self.onmessage = null;
  start(init).catch((err) => {
    post({ t: 'err', s: `libusb-wasm: ${err?.message ?? err}` });
    void exit(1);
  });
};
