/**
 * Messages between a web page and the dedicated workers it starts: the
 * transport host's (browser-host-worker.ts, controlled with comlink on
 * `control`) and each program's (browser-worker.ts, linked to the host by
 * the MessagePort `host`). The data plane never crosses here.
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
  /** The browser's navigator.usb. */
  | {
    /** The browser's navigator.usb. */
    kind: 'webusb';
  }
  | {
    /** Simulated devices behind navigator.usb's shape. */
    kind: 'sim';
    /** Devices to plug in at start. */
    devices: (DeviceSpec | string)[];
    /** Interface classes whose claim is refused (default: Chrome's protected classes). */
    protectedClasses?: number[];
  };

export interface BrowserWorkerInit {
  t: 'init';
  /** Absolute URL of the program's .js (emcc output); .wasm and .worker.js sit next to it. */
  program: string;
  args: string[];
  env: Record<string, string>;
  files: Record<string, Uint8Array>;
  cwd?: string;
  stdin?: Uint8Array;
  /** The program's link to the transport host (see host-service.ts). */
  host: MessagePort;
  /** Set when the program is the API shim: the typed JS API's server is exposed here. */
  api?: MessagePort;
}

export interface BrowserHostInit {
  t: 'host';
  transport: BrowserTransportSpec;
  spinMicros?: number;
  /** The host's comlink endpoint (HostService). */
  control: MessagePort;
  /** Log lines and audit events (HostEvent). */
  events: MessagePort;
}

export type BrowserWorkerMessage =
  | { t: 'out'; s: string }
  | { t: 'err'; s: string }
  | { t: 'started' }
  | { t: 'exit'; code: number };
