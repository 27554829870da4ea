/**
 * The typed JS API in browsers: `createContext()` starts libusb in a
 * dedicated Web Worker (the API shim, run by the browser runtime like any
 * libusb program) and returns a {@link Context} to use from the page.
 *
 * The page must be cross-origin isolated (it needs SharedArrayBuffer): serve
 * it with `Cross-Origin-Opener-Policy: same-origin` and
 * `Cross-Origin-Embedder-Policy: require-corp`. The workers and the wasm are
 * loaded from next to this module, each named as `new URL('./file',
 * import.meta.url)`, so bundlers that follow that (Vite, webpack) copy them;
 * with others (esbuild), copy `browser-worker.js`, `browser-host-worker.js`,
 * `browser-api-plugin.js` and `libusb-api.js`, `.wasm` and `.worker.js`
 * from `node_modules/libusb-wasm/dist/` to a directory of your site and
 * pass its URL as `assetsUrl` (it may be on another origin).
 *
 * ```js
 * import { createContext } from 'libusb-wasm';   // a bundler picks this build for the page
 * const usb = await createContext({ assetsUrl: '/libusb-wasm/' }); // where dist/'s worker files are served
 * const devices = await usb.getDeviceList();     // the devices the page was granted (requestDevice)
 * ```
 * @module libusb-wasm (browsers)
 */
import * as Comlink from 'comlink';
import { runProgram, type BrowserRunOptions, type PolicyOptions, type ProgramHost } from '../runner/browser/index.js';
import { hasSimulatedDevices, type TransportChoice } from '../runner/common/transports.js';
import { Context, type ContextOptions } from './client.js';
import type { ApiServer } from './server.js';

export * from './exports.js';

/** Options of {@link createContext} in browsers. */
export interface BrowserContextOptions extends ContextOptions, TransportChoice {
  /**
   * URL of the directory with browser-worker.js, browser-host-worker.js,
   * browser-api-plugin.js and the libusb-api files, relative to the page.
   * It may be on another origin (a CDN) that answers with
   * `Access-Control-Allow-Origin` and `Cross-Origin-Resource-Policy: cross-origin`.
   * Default: the files next to this module.
   */
  assetsUrl?: string | URL;
  /** Run on this transport host (createHost() from libusb-wasm/browser) instead of a private one; the devices are then the host's. */
  host?: ProgramHost;
  /** Confine this context's device access (see the README's "Sandbox and threat model"). */
  policy?: PolicyOptions;
  /** Where the worker's own diagnostics go (default: console.warn). */
  stderr?: (line: string) => void;
}

/** Where the API shim, its plugin and the runtime's workers are loaded from. */
interface RuntimeFiles extends Pick<BrowserRunOptions, 'program' | 'workerUrl' | 'hostWorkerUrl'> {
  plugin: URL;
}

/** The runtime's files: in the directory `assetsUrl` (relative to the page), or next to this module. */
function runtimeFiles(assetsUrl: string | URL | undefined): RuntimeFiles {
  if (assetsUrl === undefined) {
    // literal `new URL('./file', import.meta.url)`s, which bundlers follow; the workers are runProgram()'s defaults
    return {
      program: {
        js: new URL('./libusb-api.js', import.meta.url),
        wasm: new URL('./libusb-api.wasm', import.meta.url),
        workerJs: new URL('./libusb-api.worker.js', import.meta.url),
        fileName: 'libusb-api.js',
      },
      plugin: new URL('./browser-api-plugin.js', import.meta.url),
    };
  }
  const assets = new URL(assetsUrl, location.href);
  if (!assets.pathname.endsWith('/')) assets.pathname += '/';
  return {
    program: new URL('libusb-api.js', assets),
    workerUrl: new URL('browser-worker.js', assets),
    hostWorkerUrl: new URL('browser-host-worker.js', assets),
    plugin: new URL('browser-api-plugin.js', assets),
  };
}

/** Start a libusb context in a new Web Worker (libusb_init_context). End it with `context.exit()`. */
export async function createContext(options: BrowserContextOptions = {}): Promise<Context> {
  const stderr = options.stderr ?? ((line: string) => console.warn(`libusb-wasm: ${line}`));
  const { port1, port2 } = new MessageChannel();
  const files = runtimeFiles(options.assetsUrl);
  const run: BrowserRunOptions = {
    program: files.program,
    workerUrl: files.workerUrl,
    hostWorkerUrl: files.hostWorkerUrl,
    ...(options.host ? { host: options.host } : {
      transport: options.transport, devices: options.devices, protectedClasses: options.protectedClasses,
    }),
    policy: options.policy,
    plugin: { url: files.plugin, port: port2 },
    stdout: stderr,
    stderr,
  };
  const program = runProgram(run);
  const link = {
    api: Comlink.wrap<ApiServer>(port1),
    sim: hasSimulatedDevices(options) || options.host ? program.sim : undefined,
    ended: program.exited.finally(() => port1.close()),
    terminate: async () => program.kill(),
  };
  try {
    return await Context.start(link, options);
  } catch (e) {
    await program.kill();
    throw e;
  }
}
