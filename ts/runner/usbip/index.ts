/**
 * USB/IP from Node, the other way round from the usbip transport: a server
 * that exports the devices of any transport (`startUsbipServer`, the CLI's
 * `usbip-serve`), and the WebSocket bridge browsers reach servers through
 * (`UsbipBridge`, the CLI's `usbip-bridge`). USB/IP has no authentication
 * and no encryption: both listen on 127.0.0.1 unless told otherwise. See
 * docs/usbip.md.
 *
 * ```js
 * import { startUsbipServer, UsbipBridge } from 'libusb-wasm/usbip';
 * const server = await startUsbipServer({ devices: ['loopback'], port: 0 });   // simulated; omit devices for real ones
 * const bridge = await UsbipBridge.start({ allow: [`127.0.0.1:${server.port}`], port: 0 });
 * console.log(server.devices(), bridge.url);   // a page's server: bridge.url; Node's: `127.0.0.1:${server.port}`
 * await bridge.close();
 * await server.close();
 * ```
 * @module libusb-wasm/usbip
 */
import path from 'node:path';
import type { SimControl } from '../../sim/control.js';
import type { DeviceFilter } from '../../usb/filters.js';
import { buildTransport, transportSpecOf, type TransportChoice } from '../common/transports.js';
import { nodeTransportEnvironment } from '../node/environment.js';
import { UsbipServer, type UsbipServedDevice } from './server.js';

export { UsbipServer, type UsbipServerOptions, type UsbipServedDevice } from './server.js';
export { UsbipBridge, BRIDGE_PORT, type UsbipBridgeOptions } from './bridge.js';
export type { DeviceFilter } from '../../usb/filters.js';
export type { ServerLog } from './exports.js';

/** Options of {@link startUsbipServer}: which devices (as for createHost()), which of them, and where to listen. */
export interface UsbipServeOptions extends TransportChoice {
  /** Export only devices matching one of these (WebUSB's filter rules). Default: every device. */
  filters?: DeviceFilter[];
  /** Address to listen on (default 127.0.0.1: only this machine; USB/IP has no authentication). */
  host?: string;
  /** TCP port (default 3240; 0 picks a free one). */
  port?: number;
  /** Where relative paths (deviceModule, images) start. Default: process.cwd(). */
  cwd?: string;
  /** Diagnostics and connection events (default: stderr). */
  log?: (message: string) => void;
  /** Log every command and reply too. */
  trace?: boolean;
}

/** A server started by {@link startUsbipServer}. */
export interface RunningUsbipServer {
  /** The address it listens on. */
  readonly host: string;
  /** The TCP port it listens on. */
  readonly port: number;
  /** Plug, unplug and inspect the simulated devices (when the transport has them). */
  readonly sim?: SimControl;
  /** The exported devices, and who imported each. */
  devices(): UsbipServedDevice[];
  /** Stop: connections end, imported devices are released, the transport is closed. */
  close(): Promise<void>;
}

/**
 * Export devices over USB/IP: real ones through the node transport by
 * default, or simulated ones (`devices`, `deviceModule`).
 */
export async function startUsbipServer(options: UsbipServeOptions = {}): Promise<RunningUsbipServer> {
  const log = options.log ?? ((m: string) => process.stderr.write(`usbip-serve: ${m}\n`));
  const spec = transportSpecOf(options, 'node');
  if (spec.kind === 'usbip') throw new Error('usbip-serve exports local devices; a usbip transport would relay another server');
  const { transport, sim } = await buildTransport(spec, nodeTransportEnvironment(path.resolve(options.cwd ?? process.cwd()), log));
  let server: UsbipServer;
  try {
    server = await UsbipServer.start({ transport, filters: options.filters, host: options.host, port: options.port, log, trace: options.trace });
  } catch (e) {
    await transport.close?.();
    throw e;
  }
  return {
    host: server.host,
    port: server.port,
    sim,
    devices: () => server.devices(),
    async close() {
      await server.close();
      await transport.close?.();
    },
  };
}
