/**
 * The worker of the typed JS API in browsers: a classic dedicated Web
 * Worker (Emscripten's pthreads need importScripts) that builds the
 * transport and the transport host, loads the API shim with the API server
 * installed, and answers the page through comlink. Bundled as
 * dist/web/api-worker.js.
 * @module
 * @internal
 */
import * as Comlink from 'comlink';
import { TransportHost } from '../host/host.js';
import { createModule } from '../runner/program.js';
import { SimControl } from '../runner/sim-control.js';
import { SimBus } from '../sim/bus.js';
import { createDevice, type DeviceSpec } from '../sim/models/index.js';
import { SimTransport } from '../transports/sim.js';
import { ApiServer } from './server.js';

/** What the page sends to start the worker. */
export interface WebWorkerStart {
  /** Where api-worker.js, libusb-api.js, .wasm and .worker.js are. */
  assetsUrl: string;
  transport: 'sim';
  devices: (DeviceSpec | string)[];
}

/** The message the worker posts when the shim's program has ended. */
export interface WebWorkerExit {
  type: 'libusb-wasm:exit';
  code: number;
}

declare const self: { postMessage(message: unknown): void };

const root = {
  api: new ApiServer(),
  sim: undefined as SimControl | undefined,

  /** Build the transport and start the API shim. Resolves once it runs. */
  async start(options: WebWorkerStart): Promise<void> {
    if (options.transport !== 'sim') throw new Error(`transport '${String(options.transport)}' is not available in this build`);
    let host: TransportHost | undefined;
    const bus = new SimBus();
    const devices = options.devices.map((d) => createDevice(d));
    const transport = new SimTransport(bus, { devices });
    root.sim = new SimControl(bus, devices, () => host);
    host = new TransportHost(transport, { log: (m) => console.warn(m) });

    const url = (file: string) => new URL(file, options.assetsUrl).href;
    const response = await fetch(url('libusb-api.js'));
    if (!response.ok) throw new Error(`could not load ${url('libusb-api.js')}: HTTP ${response.status}`);
    const js = await response.text();
    const exit = (code: number) => {
      const m: WebWorkerExit = { type: 'libusb-wasm:exit', code };
      self.postMessage(m);
      root.api.detach();
      void host?.stop();
    };
    const Module = createModule({ programName: 'libusb-api', args: [], env: {} }, host, {
      stdout: (s) => console.log(s),
      stderr: (s) => console.warn(s),
      exit,
    }, () => WebAssembly.compileStreaming(fetch(url('libusb-api.wasm'))));
    Module.libusbWasmApi = root.api;
    // the program's pthreads load its script and worker by URL
    Module.locateFile = (file: string) => url(file);
    Module.mainScriptUrlOrBlob = url('libusb-api.js');
    // evaluate the program's JS as a script whose free `Module` is ours
    new Function('Module', js)(Module);
    await root.api.ready;
  },
};

export type WebWorkerRoot = typeof root;

Comlink.expose(root);
