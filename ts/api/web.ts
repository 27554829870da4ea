/**
 * The typed JS API in browsers: `createContext()` starts libusb in a
 * dedicated Web Worker and returns a {@link Context} to use from the page.
 *
 * The page must be cross-origin isolated (it needs SharedArrayBuffer): serve
 * it with `Cross-Origin-Opener-Policy: same-origin` and
 * `Cross-Origin-Embedder-Policy: require-corp`. The worker and the wasm
 * files are loaded from `assetsUrl`: by default the directory of this
 * module; after bundling, copy `node_modules/libusb-wasm/dist/web/` next to
 * your bundle or pass its URL.
 * @module
 */
import * as Comlink from 'comlink';
import type { DeviceSpec } from '../sim/models/index.js';
import { Context, type ContextOptions } from './client.js';
import type { SimControl } from '../runner/sim-control.js';
import type { ApiServer } from './server.js';
import type { WebWorkerExit, WebWorkerRoot } from './web-worker.js';

export * from './exports.js';

/** Options of {@link createContext} in browsers. */
export interface WebContextOptions extends ContextOptions {
  /**
   * Where devices come from. `'sim'`: simulated devices (`devices`). The
   * `'webusb'` transport (navigator.usb) plugs in here when it lands.
   */
  transport?: 'sim';
  /** Simulated devices to plug in at start: model specs such as `'loopback'` or `'hid'`. */
  devices?: (DeviceSpec | string)[];
  /** URL of the directory with api-worker.js and the libusb-api files. Default: next to this module. */
  assetsUrl?: string | URL;
}

/** Start a libusb context in a new Web Worker (libusb_init_context). End it with `context.exit()`. */
export async function createContext(options: WebContextOptions = {}): Promise<Context> {
  if (options.transport !== undefined && options.transport !== 'sim') {
    throw new TypeError(`unknown transport '${String(options.transport)}' (available: sim)`);
  }
  if (typeof SharedArrayBuffer === 'undefined' || !globalThis.crossOriginIsolated) {
    throw new Error('libusb-wasm needs SharedArrayBuffer: serve the page with the headers '
      + '"Cross-Origin-Opener-Policy: same-origin" and "Cross-Origin-Embedder-Policy: require-corp"');
  }
  const assetsUrl = new URL(options.assetsUrl ?? '.', import.meta.url);
  if (!assetsUrl.pathname.endsWith('/')) assetsUrl.pathname += '/';
  const worker = new Worker(new URL('api-worker.js', assetsUrl));
  let ended!: (code: number) => void;
  const endedPromise = new Promise<number>((resolve) => (ended = resolve));
  worker.addEventListener('message', (m: MessageEvent<WebWorkerExit>) => {
    if (m.data?.type === 'libusb-wasm:exit') ended(m.data.code);
  });
  worker.addEventListener('error', (e) => {
    console.error(`libusb-wasm: the worker failed: ${e.message}`);
    ended(-1);
  });
  const root = Comlink.wrap<WebWorkerRoot>(worker);
  // comlink reaches nested objects through property paths: root.api.open(...)
  const link = {
    api: root.api as unknown as Comlink.Remote<ApiServer>,
    sim: root.sim as unknown as Comlink.Remote<SimControl>,
    ended: endedPromise,
    async terminate() {
      worker.terminate();
      ended(-1);
    },
  };
  try {
    await Promise.race([
      root.start({ assetsUrl: assetsUrl.href, transport: 'sim', devices: options.devices ?? [] }),
      endedPromise.then((code) => Promise.reject(new Error(`the libusb worker ended while starting (status ${code})`))),
    ]);
    return await Context.start(link, options);
  } catch (e) {
    worker.terminate();
    throw e;
  }
}
