/**
 * Messages between runProgram() (caller's thread) and the program's worker
 * in Node. Control of simulated devices goes through comlink on `control`.
 * @module
 */
import type { MessagePort } from 'node:worker_threads';
import type { DeviceSpec } from '../sim/models/index.js';

/** Which transport the program's worker builds. */
export type TransportSpec =
  | { kind: 'sim'; devices?: (DeviceSpec | string)[]; deviceModule?: string }
  | { kind: 'node' }
  | WebUsbTransportSpec;

/**
 * The webusb transport in Node, over an object of `navigator.usb`'s shape
 * built inside the program's worker: by `usbModule` (an ES module whose
 * default export returns it, e.g. the `usb` package's `new WebUSB(...)`), or
 * else the simulated devices behind that shape (`devices`, `deviceModule`,
 * `protectedClasses` as in ts/sim/webusb-shape.ts; default Chrome's list).
 */
export interface WebUsbTransportSpec {
  kind: 'webusb';
  usbModule?: string;
  devices?: (DeviceSpec | string)[];
  deviceModule?: string;
  protectedClasses?: number[];
}

export interface NodeWorkerData {
  program: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
  stdin?: Uint8Array;
  transport: TransportSpec;
  control: MessagePort;
  spinMicros?: number;
}

export type WorkerMessage =
  | { t: 'out'; s: string }
  | { t: 'err'; s: string }
  | { t: 'started' }
  | { t: 'exit'; code: number; devices?: unknown[] };
