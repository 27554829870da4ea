/**
 * Running a compiled libusb program from Node: the program gets its own
 * worker_thread (with the transport host in it), so the caller's thread
 * stays free. Several programs can run at once.
 * @module
 */
import { Worker, MessageChannel } from 'node:worker_threads';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import type { DeviceSpec } from '../sim/models/index.js';
import { checkLinked } from './program.js';
import type { SimControl } from './sim-control.js';
import type { NodeWorkerData, TransportSpec, WorkerMessage } from './node-protocol.js';

export type { SimControl, SimDeviceInfo } from './sim-control.js';
export type { TransportSpec } from './node-protocol.js';

export interface RunOptions {
  /** The program's .js file (emcc output); its .wasm sits next to it. */
  program: string;
  args?: string[];
  /** Environment variables the program sees (getenv). */
  env?: Record<string, string>;
  /** Working directory inside the program (default: process.cwd()). */
  cwd?: string;
  /** Bytes for the program's stdin. */
  stdin?: string | Uint8Array;
  /**
   * Which devices the program reaches: 'node' (real devices through the npm
   * `usb` package) or 'sim' (simulated devices). Default: 'node', unless
   * `devices` or `deviceModule` ask for simulated ones.
   */
  transport?: 'sim' | 'node' | TransportSpec;
  /** Simulated devices to plug in at start (implies the sim transport): model specs such as 'loopback' or 'msc:blocks=4096'. */
  devices?: (DeviceSpec | string)[];
  /** An ES module whose default export returns more SimDevice objects (implies the sim transport). */
  deviceModule?: string;
  /** Each line the program prints (without its newline). Default: this process's stdout. */
  stdout?: (line: string) => void;
  stderr?: (line: string) => void;
  /** Transport host spin before sleeping, in microseconds. */
  spinMicros?: number;
}

export interface RunningProgram {
  /** Resolves with the exit status (main's return value or exit()). */
  readonly exited: Promise<number>;
  /** Resolves when the program's JS has been loaded and main() started. */
  readonly started: Promise<void>;
  /** Snapshots (SimDevice.inspect) of every simulated device when the program exited. */
  readonly devicesAtExit: Promise<unknown[]>;
  /** Remote control of the simulated devices (sim transport only). */
  readonly sim: Comlink.Remote<SimControl>;
  /** Stop the program now. */
  kill(): Promise<void>;
}

/** The worker script, next to this module in dist/. */
const WORKER = fileURLToPath(new URL('./node-worker.js', import.meta.url));

/** The transport a program gets: node unless simulated devices are asked for. */
function transportSpec(options: RunOptions): TransportSpec {
  if (typeof options.transport === 'object') return options.transport;
  const wantsSim = options.devices !== undefined || options.deviceModule !== undefined;
  const kind = options.transport ?? (wantsSim ? 'sim' : 'node');
  if (kind === 'node') {
    if (wantsSim) throw new Error("simulated devices (devices, deviceModule) need transport 'sim', not 'node'");
    return { kind: 'node' };
  }
  if (kind !== 'sim') throw new Error(`unknown transport '${String(kind)}' (available: node, sim)`);
  return { kind: 'sim', devices: options.devices ?? [], deviceModule: options.deviceModule };
}

/** Start a program in a new worker thread. Throws at once for a missing or wrong file. */
export function runProgram(options: RunOptions): RunningProgram {
  const program = path.resolve(options.program);
  if (!fs.existsSync(program)) throw new Error(`program not found: ${program}`);
  const wasm = program.replace(/\.m?js$/, '.wasm');
  if (!fs.existsSync(wasm)) throw new Error(`${path.basename(program)}: its WebAssembly file ${wasm} is missing`);
  checkLinked(fs.readFileSync(program, 'utf8'), path.basename(program));

  const transport = transportSpec(options);
  const stdin = typeof options.stdin === 'string' ? new TextEncoder().encode(options.stdin) : options.stdin;
  const stdout = options.stdout ?? ((s: string) => process.stdout.write(s + '\n'));
  const stderr = options.stderr ?? ((s: string) => process.stderr.write(s + '\n'));

  const { port1, port2 } = new MessageChannel();
  const data: NodeWorkerData = {
    program, args: options.args ?? [], env: options.env ?? {}, cwd: path.resolve(options.cwd ?? process.cwd()),
    stdin, transport, control: port2, spinMicros: options.spinMicros,
  };
  const worker = new Worker(WORKER, { workerData: data, transferList: [port2] });
  const sim = Comlink.wrap<SimControl>(nodeEndpoint(port1));

  let exitCode: number | undefined;
  let finalDevices: unknown[] = [];
  let markStarted!: () => void;
  let failStart!: (e: Error) => void;
  const started = new Promise<void>((resolve, reject) => {
    markStarted = resolve;
    failStart = reject;
  });
  started.catch(() => {});
  worker.on('message', (m: WorkerMessage) => {
    if (m.t === 'out') stdout(m.s);
    else if (m.t === 'err') stderr(m.s);
    else if (m.t === 'exit') {
      exitCode = m.code;
      finalDevices = m.devices ?? [];
    }
    else if (m.t === 'started') markStarted();
  });
  worker.on('error', (e) => stderr(`libusb-wasm: ${path.basename(program)} crashed: ${e?.stack ?? e}`));
  const exited = new Promise<number>((resolve) => {
    worker.on('exit', (code) => {
      port1.close();
      failStart(new Error(`${path.basename(program)} exited before it started`));
      resolve(exitCode ?? (code === 0 ? 0 : code || 1));
    });
  });
  return {
    exited,
    devicesAtExit: exited.then(() => finalDevices),
    started,
    sim,
    async kill() {
      await worker.terminate();
    },
  };
}
