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
 * @module libusb-wasm
 */
import { MessageChannel } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { runProgram, type ProgramHost, type PolicyOptions } from '../runner/node/index.js';
import { hasSimulatedDevices, type TransportChoice } from '../runner/common/transports.js';
import { Context, type ContextOptions } from './client.js';
import { KeepAlive } from './keep-alive.js';
import type { ApiServer } from './server.js';

export * from './exports.js';

/** Options of {@link createContext} in Node. */
export interface NodeContextOptions extends ContextOptions, TransportChoice {
  /** Where the worker's own diagnostics go (default: this process's stderr). */
  stderr?: (line: string) => void;
  /** Run on this transport host (createHost() from libusb-wasm/node) instead of a private one; the devices are then the host's. */
  host?: ProgramHost;
  /** Confine this context's device access (see docs/sandbox.md). */
  policy?: PolicyOptions;
  /**
   * Keep the process running while the context is open (default true).
   * With false the process may end while the context is open and idle, as
   * with the `usb` package's `unrefHotplugEvents()`: a call in flight still
   * holds it open, a `connect` listener does not. `context.unref()` and
   * `context.ref()` change it later.
   */
  keepAlive?: boolean;
}

/** The API shim, built by wasm/build.mk and shipped next to this module. */
const SHIM = fileURLToPath(new URL('./libusb-api.js', import.meta.url));
/** The API server's plugin for the shim's worker (ts/api/plugin.ts). */
const PLUGIN = fileURLToPath(new URL('./api-plugin.js', import.meta.url));

/**
 * Start a libusb context in a new worker thread (libusb_init_context), with
 * its event handling running there. End it with `context.exit()`; until
 * then the worker keeps the process alive, unless `keepAlive: false`.
 */
export async function createContext(options: NodeContextOptions = {}): Promise<Context> {
  const { port1, port2 } = new MessageChannel();
  const stderr = options.stderr ?? ((line: string) => process.stderr.write(`${line.startsWith('libusb-wasm: ') ? '' : 'libusb-wasm: '}${line}\n`));
  const program = runProgram({
    program: SHIM,
    ...(options.host ? { host: options.host } : {
      transport: options.transport, devices: options.devices, deviceModule: options.deviceModule, protectedClasses: options.protectedClasses,
    }),
    policy: options.policy,
    plugin: { module: PLUGIN, port: port2 },
    stdout: stderr,
    stderr,
  });
  const api = Comlink.wrap<ApiServer>(nodeEndpoint(port1));
  const keepAlive = new KeepAlive(options.keepAlive ?? true);
  keepAlive.track(program);
  keepAlive.track(port1);
  const link = {
    api,
    sim: hasSimulatedDevices(options) || options.host ? program.sim : undefined,
    ended: program.exited.finally(() => port1.close()),
    terminate: () => program.kill(),
    keepAlive,
  };
  const starting = keepAlive.hold();
  try {
    return await Context.start(link, options);
  } catch (e) {
    await program.kill();
    throw e;
  } finally {
    starting();
  }
}
