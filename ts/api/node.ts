/**
 * The typed JS API in Node: `createContext()` starts libusb in a
 * worker_thread (the API shim, run by the same runner as any libusb
 * program) and returns a {@link Context} to use from the calling thread.
 *
 * ```js
 * import { createContext } from 'libusb-wasm';
 * const usb = await createContext({ devices: ['loopback'] });
 * const [device] = await usb.getDeviceList();
 * const handle = await device.open();
 * ```
 * @module
 */
import { MessageChannel } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { runProgram, type ProgramHost, type PolicyOptions, type TransportSpec } from '../runner/node.js';
import type { DeviceSpec } from '../sim/models/index.js';
import { Context, type ContextOptions } from './client.js';
import type { ApiServer } from './server.js';

export * from './exports.js';

/** Options of {@link createContext} in Node. */
export interface NodeContextOptions extends ContextOptions {
  /**
   * Where devices come from: `'node'` (real devices through the npm `usb`
   * package) or `'sim'` (simulated devices). Default: `'node'`, unless
   * `devices` or `deviceModule` ask for simulated ones.
   */
  transport?: 'node' | 'sim' | TransportSpec;
  /** Simulated devices to plug in at start (implies `'sim'`): model specs such as `'loopback'`, `'hid'` or `'msc:blocks=4096'`. */
  devices?: (DeviceSpec | string)[];
  /** An ES module whose default export returns more SimDevice objects (implies `'sim'`). */
  deviceModule?: string;
  /** Where the worker's own diagnostics go (default: this process's stderr). */
  stderr?: (line: string) => void;
  /** Run on this transport host (createHost() from libusb-wasm/node) instead of a private one; the devices are then the host's. */
  host?: ProgramHost;
  /** Confine this context's device access (see the README's "Sandbox and threat model"). */
  policy?: PolicyOptions;
}

/** The API shim, built by wasm/build.mk and shipped next to this module. */
const SHIM = fileURLToPath(new URL('./libusb-api.js', import.meta.url));

function usesSim(options: NodeContextOptions): boolean {
  const t = options.transport;
  if (typeof t === 'object') return t.kind === 'sim';
  return t === 'sim' || (t === undefined && (options.devices !== undefined || options.deviceModule !== undefined));
}

/**
 * Start a libusb context in a new worker thread (libusb_init_context), with
 * its event handling running there. End it with `context.exit()`; until
 * then the worker keeps the process alive.
 */
export async function createContext(options: NodeContextOptions = {}): Promise<Context> {
  const { port1, port2 } = new MessageChannel();
  const stderr = options.stderr ?? ((line: string) => process.stderr.write(`libusb-wasm: ${line}\n`));
  const program = runProgram({
    program: SHIM,
    ...(options.host ? { host: options.host } : {
      transport: options.transport,
      devices: options.devices,
      deviceModule: options.deviceModule,
    }),
    policy: options.policy,
    apiPort: port2,
    stdout: stderr,
    stderr,
  });
  const api = Comlink.wrap<ApiServer>(nodeEndpoint(port1));
  const link = {
    api,
    sim: usesSim(options) || options.host ? program.sim : undefined,
    ended: program.exited.finally(() => port1.close()),
    terminate: () => program.kill(),
  };
  try {
    return await Context.start(link, options);
  } catch (e) {
    await program.kill();
    throw e;
  }
}
