/**
 * Running a compiled libusb program from a web page. The program gets its
 * own dedicated worker (dist/browser-worker.js) with the webusb transport
 * and the transport host in it, so the page never blocks, whatever the C
 * program does. The page keeps what needs a user gesture: requestDevice().
 *
 * Needs cross-origin isolation (SharedArrayBuffer): the page must be served
 * with `Cross-Origin-Opener-Policy: same-origin` and
 * `Cross-Origin-Embedder-Policy: require-corp` (see the README).
 * @module
 */
import * as Comlink from 'comlink';
import type { DeviceFilter } from '../host/policy.js';
import type { DeviceSpec } from '../sim/models/index.js';
import type { SimControl } from './sim-control.js';
import type { BrowserWorkerControl } from './browser-worker.js';
import type { BrowserTransportSpec, BrowserWorkerInit, BrowserWorkerMessage } from './browser-protocol.js';

export type { SimControl, SimDeviceInfo } from './sim-control.js';
export type { BrowserTransportSpec } from './browser-protocol.js';

export interface BrowserRunOptions {
  /** URL of the program's .js (emcc output), relative to the page; its .wasm and .worker.js sit next to it. */
  program: string | URL;
  args?: string[];
  /** Environment variables the program sees (getenv). */
  env?: Record<string, string>;
  /** Files the program can open, by absolute path: `{ '/fw/app.hex': bytes }`. */
  files?: Record<string, Uint8Array | string>;
  /** Working directory inside the program (created when missing). */
  cwd?: string;
  /** Bytes for the program's stdin. */
  stdin?: string | Uint8Array;
  /**
   * Where devices come from, both through the webusb transport: `'webusb'`
   * (default) the browser's navigator.usb, `'sim'` simulated devices behind
   * its shape.
   */
  transport?: 'webusb' | 'sim';
  /** Simulated devices to plug in at start (transport 'sim'): 'loopback', 'msc:blocks=4096', ... */
  devices?: (DeviceSpec | string)[];
  /**
   * Interface classes the simulated navigator.usb refuses to claim
   * (transport 'sim'). Default: Chrome's protected classes; `[]` allows all.
   */
  protectedClasses?: number[];
  /** Each line the program prints (without its newline). Default: console.log / console.error. */
  stdout?: (line: string) => void;
  stderr?: (line: string) => void;
  /** URL of browser-worker.js. Default: next to this module. */
  workerUrl?: string | URL;
  /** Transport host spin before sleeping, in microseconds. */
  spinMicros?: number;
}

export interface BrowserRunningProgram {
  /** Resolves with the exit status (main's return value or exit()). */
  readonly exited: Promise<number>;
  /** Resolves when the program's JS has been loaded and main() started. */
  readonly started: Promise<void>;
  /** Snapshots (SimDevice.inspect) of every simulated device when the program exited. */
  readonly devicesAtExit: Promise<unknown[]>;
  /** Remote control of the simulated devices (transport 'sim'): plug, unplug, inspect, list. */
  readonly sim: Comlink.Remote<SimControl>;
  /** Libusb contexts with a thread blocked waiting for events (0 before libusb_init). */
  waitingContexts(): Promise<number>;
  /**
   * Tell the program about devices granted or forgotten since it started
   * (call it after requestDevice() on the page); they reach libusb as
   * hotplug events.
   */
  rescan(): Promise<void>;
  /** Stop the program now (its worker is terminated). Resolves `exited` with 137 if it was running. */
  kill(): void;
}

/** Why this page cannot run programs, or undefined when it can. */
export function crossOriginIsolationProblem(): string | undefined {
  if (typeof SharedArrayBuffer === 'undefined' || !(globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated) {
    return 'this page is not cross-origin isolated, so SharedArrayBuffer is unavailable. Serve it with the headers '
      + '"Cross-Origin-Opener-Policy: same-origin" and "Cross-Origin-Embedder-Policy: require-corp" '
      + '(the worker scripts too), from https or http://localhost.';
  }
  return undefined;
}

/**
 * Ask the user for a device (call it from a click handler: WebUSB needs a
 * user gesture). Running programs see it after `rescan()`; programs started
 * later see it at once.
 */
export async function requestDevice(filters: DeviceFilter[] = []): Promise<unknown> {
  const usb = (navigator as Navigator & { usb?: { requestDevice(o: { filters: DeviceFilter[] }): Promise<unknown> } }).usb;
  if (!usb) throw new Error('WebUSB is not available in this browser (it needs Chrome or Edge, over https or http://localhost)');
  return usb.requestDevice({ filters });
}

/** Start a program in a new dedicated worker. Throws at once when the page cannot run it. */
export function runProgram(options: BrowserRunOptions): BrowserRunningProgram {
  const problem = crossOriginIsolationProblem();
  if (problem) throw new Error(`libusb-wasm: ${problem}`);
  const program = new URL(options.program, location.href).href;
  const transport: BrowserTransportSpec = (options.transport ?? 'webusb') === 'sim'
    ? { kind: 'sim', devices: options.devices ?? [], protectedClasses: options.protectedClasses }
    : { kind: 'webusb' };
  if (transport.kind === 'webusb' && options.devices?.length) {
    throw new Error("libusb-wasm: simulated devices need transport: 'sim'");
  }
  const encoder = new TextEncoder();
  const files: Record<string, Uint8Array> = {};
  for (const [path, content] of Object.entries(options.files ?? {})) {
    if (!path.startsWith('/')) throw new Error(`libusb-wasm: file paths must be absolute, got '${path}'`);
    files[path] = typeof content === 'string' ? encoder.encode(content) : content;
  }
  const stdout = options.stdout ?? ((s: string) => console.log(s));
  const stderr = options.stderr ?? ((s: string) => console.error(s));

  const worker = new Worker(options.workerUrl ?? new URL('./browser-worker.js', import.meta.url), { name: program.split('/').pop() });
  const { port1, port2 } = new MessageChannel();
  const control = Comlink.wrap<BrowserWorkerControl>(port1);

  let finish!: (code: number) => void;
  let markStarted!: () => void;
  let failStart!: (e: Error) => void;
  let finalDevices: unknown[] = [];
  let done = false;
  const exited = new Promise<number>((resolve) => (finish = resolve));
  const started = new Promise<void>((resolve, reject) => {
    markStarted = resolve;
    failStart = reject;
  });
  started.catch(() => {});
  const end = (code: number) => {
    if (done) return;
    done = true;
    failStart(new Error(`${program} exited before it started`));
    worker.terminate();
    port1.close();
    finish(code);
  };

  worker.onmessage = (e: MessageEvent<BrowserWorkerMessage>) => {
    const m = e.data;
    if (m.t === 'out') stdout(m.s);
    else if (m.t === 'err') stderr(m.s);
    else if (m.t === 'started') markStarted();
    else if (m.t === 'exit') {
      finalDevices = m.devices ?? [];
      end(m.code);
    }
  };
  worker.onerror = (e) => {
    e.preventDefault();
    if (done) return;
    stderr(`libusb-wasm: the program's worker failed: ${e.message || 'could not load ' + String(options.workerUrl ?? 'browser-worker.js')}`);
    end(1);
  };

  const init: BrowserWorkerInit = {
    t: 'init', program, args: options.args ?? [], env: options.env ?? {}, files, cwd: options.cwd,
    stdin: typeof options.stdin === 'string' ? encoder.encode(options.stdin) : options.stdin,
    transport, control: port2, spinMicros: options.spinMicros,
  };
  worker.postMessage(init, [port2]);

  return {
    exited,
    started,
    devicesAtExit: exited.then(() => finalDevices),
    sim: control.sim as unknown as Comlink.Remote<SimControl>,
    waitingContexts: () => control.waitingContexts(),
    rescan: () => control.rescan(),
    kill: () => end(137),
  };
}
