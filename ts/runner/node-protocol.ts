/**
 * What runProgram() and createHost() (caller's thread) hand the program's
 * worker and the transport host's worker in Node, and the messages they
 * send back. The host's worker is controlled with comlink; a program
 * reaches its host through the MessagePort `host`.
 * @module
 */
import type { MessagePort } from 'node:worker_threads';
import type { DeviceSpec } from '../sim/models/index.js';

/** Which transport the host's worker builds. */
export type TransportSpec =
  | {
    /** Simulated devices. */
    kind: 'sim';
    /** Devices to plug in at start. */
    devices?: (DeviceSpec | string)[];
    /** An ES module whose default export returns more SimDevice objects. */
    deviceModule?: string;
  }
  | {
    /** Real devices through the npm `usb` package. */
    kind: 'node';
  }
  | WebUsbTransportSpec;

/**
 * The webusb transport in Node, over an object of `navigator.usb`'s shape
 * built inside the program's worker: by `usbModule` (an ES module whose
 * default export returns it, e.g. the `usb` package's `new WebUSB(...)`), or
 * else the simulated devices behind that shape (`devices`, `deviceModule`,
 * `protectedClasses` as in ts/sim/webusb-shape.ts; default Chrome's list).
 */
export interface WebUsbTransportSpec {
  /** The webusb transport. */
  kind: 'webusb';
  /** An ES module whose default export returns the navigator.usb-shaped object (or a function returning one). */
  usbModule?: string;
  /** Or: simulated devices behind navigator.usb's shape, plugged in at start. */
  devices?: (DeviceSpec | string)[];
  /** An ES module whose default export returns more SimDevice objects. */
  deviceModule?: string;
  /** Interface classes the simulated navigator.usb refuses to claim (default: Chrome's protected classes). */
  protectedClasses?: number[];
}

export interface NodeWorkerData {
  program: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
  stdin?: Uint8Array;
  /** The program's link to the transport host (see host-service.ts). */
  host: MessagePort;
  /** Set when the program is the API shim: the typed JS API's server is exposed here. */
  api?: MessagePort;
}

export interface NodeHostWorkerData {
  transport: TransportSpec;
  /** Where relative paths in the transport spec (device modules, images) start. */
  cwd: string;
  spinMicros?: number;
  /** Log lines and audit events (HostEvent) go here. */
  events: MessagePort;
}

export type WorkerMessage =
  | { t: 'out'; s: string }
  | { t: 'err'; s: string }
  | { t: 'started' }
  | { t: 'exit'; code: number };
