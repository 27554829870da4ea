/**
 * Messages between runProgram() on a web page and the program's dedicated
 * worker (browser-worker.ts). Control of simulated devices and rescans go
 * through comlink on `control`; the data plane never crosses here.
 * @module
 */
import type { DeviceSpec } from '../sim/models/index.js';

/**
 * Where the program's devices come from. Both go through the webusb
 * transport:
 * - `webusb`: the browser's own `navigator.usb`, in the worker (devices the
 *   page was granted with requestDevice());
 * - `sim`: simulated devices behind navigator.usb's shape
 *   (ts/sim/webusb-shape.ts), protected classes refused as Chrome does
 *   unless `protectedClasses` says otherwise.
 */
export type BrowserTransportSpec =
  | { kind: 'webusb' }
  | { kind: 'sim'; devices: (DeviceSpec | string)[]; protectedClasses?: number[] };

export interface BrowserWorkerInit {
  t: 'init';
  /** Absolute URL of the program's .js (emcc output); .wasm and .worker.js sit next to it. */
  program: string;
  args: string[];
  env: Record<string, string>;
  files: Record<string, Uint8Array>;
  cwd?: string;
  stdin?: Uint8Array;
  transport: BrowserTransportSpec;
  control: MessagePort;
  spinMicros?: number;
}

export type BrowserWorkerMessage =
  | { t: 'out'; s: string }
  | { t: 'err'; s: string }
  | { t: 'started' }
  | { t: 'exit'; code: number; devices?: unknown[] };
