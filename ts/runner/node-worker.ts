/**
 * The program's worker in Node (a worker_thread). It builds the transport
 * and the transport host, then starts the Emscripten program in this same
 * thread; with -sPROXY_TO_PTHREAD the program's main() runs on a pthread, so
 * this thread's event loop stays free for the host.
 * @module
 */
import { parentPort, workerData, Worker, type MessagePort, type WorkerOptions } from 'node:worker_threads';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import { fileURLToPath } from 'node:url';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { TransportHost } from '../host/host.js';
import { SimBus } from '../sim/bus.js';
import type { SimDevice } from '../sim/device.js';
import { createDevice, parseDeviceSpec, type DeviceSpec } from '../sim/models/index.js';
import { SimTransport } from '../transports/sim.js';
import { WebUsbTransport } from '../transports/webusb.js';
import type { USBLike } from '../transports/webusb-types.js';
import { SimUSB } from '../sim/webusb-shape.js';
import type { Transport } from '../transports/transport.js';
import { checkLinked, createModule } from './program.js';
import { SimControl } from './sim-control.js';
import type { NodeWorkerData, WorkerMessage } from './node-protocol.js';

const data = workerData as NodeWorkerData;
const post = (m: WorkerMessage) => parentPort!.postMessage(m);

async function simDevices(specs: (DeviceSpec | string)[], deviceModule: string | undefined): Promise<SimDevice[]> {
  const devices = specs.map((s) => {
    const spec = typeof s === 'string' ? parseDeviceSpec(s) : s;
    const options = { ...spec.options };
    if (typeof options.image === 'string') options.image = new Uint8Array(fs.readFileSync(path.resolve(data.cwd, options.image)));
    return createDevice({ ...spec, options });
  });
  if (deviceModule) {
    const mod = await import(path.resolve(data.cwd, deviceModule));
    const make = mod.default ?? mod.devices;
    if (typeof make !== 'function') throw new Error(`${deviceModule} must export a default function returning SimDevice objects`);
    devices.push(...(await make()));
  }
  return devices;
}

async function createTransport(): Promise<{ transport: Transport; control?: SimControl }> {
  const spec = data.transport;
  if (spec.kind === 'sim') {
    const bus = new SimBus();
    const devices = await simDevices(spec.devices ?? [], spec.deviceModule);
    const transport = new SimTransport(bus, { devices });
    return { transport, control: new SimControl(bus, devices, () => host) };
  }
  if (spec.kind === 'node') {
    const { createNodeTransport } = await import('../transports/node/index.js');
    return { transport: await createNodeTransport({ log: (m) => post({ t: 'err', s: m }) }) };
  }
  if (spec.kind === 'webusb') {
    const log = (m: string) => post({ t: 'err', s: m });
    if (spec.usbModule) return { transport: new WebUsbTransport(await loadUsbModule(spec.usbModule), { log }) };
    // the simulated devices behind navigator.usb's shape
    const bus = new SimBus();
    const devices = await simDevices(spec.devices ?? [], spec.deviceModule);
    for (const d of devices) bus.plug(d);
    const usb = new SimUSB(bus, { protectedClasses: spec.protectedClasses });
    return { transport: new WebUsbTransport(usb, { log }), control: new SimControl(bus, devices, () => host) };
  }
  throw new Error(`transport '${(spec as { kind: string }).kind}' is not available in this build`);
}

/** An object of navigator.usb's shape from a module: its default export, or what that function returns. */
async function loadUsbModule(file: string): Promise<USBLike> {
  const mod = await import(path.resolve(data.cwd, file));
  const made = typeof mod.default === 'function' ? await mod.default() : mod.default;
  if (!made || typeof made.getDevices !== 'function' || typeof made.addEventListener !== 'function') {
    throw new Error(`${file} must export (as default) an object of navigator.usb's shape, or a function returning one`);
  }
  return made as USBLike;
}

/** A worker_threads Worker that runs a script file as CommonJS. */
class ScriptWorker extends Worker {
  constructor(file: string | URL, options: WorkerOptions = {}) {
    const p = file instanceof URL ? fileURLToPath(file) : String(file);
    if (options.eval || !/\.c?js$/.test(p)) {
      super(file, options);
      return;
    }
    const code = fs.readFileSync(p, 'utf8');
    super(`(function (__filename, __dirname) {\n${code}\n})(${JSON.stringify(p)}, ${JSON.stringify(path.dirname(p))});`,
      { ...options, eval: true });
    this.on('message', (m) => trace(`pthread message ${JSON.stringify(m).slice(0, 80)}`));
  }
}

let host: TransportHost | undefined;
let simControl: SimControl | undefined;
let exiting = false;

const trace = process.env.LIBUSB_WASM_TRACE ? (m: string) => process.stderr.write(`[worker] ${m}\n`) : () => {};

async function exit(code: number): Promise<void> {
  trace(`exit(${code})`);
  if (exiting) return;
  exiting = true;
  let devices: unknown[] | undefined;
  try {
    devices = simControl?.list().map((d) => simControl!.inspect(d.index));
  } catch {
    devices = undefined;
  }
  post({ t: 'exit', code, devices });
  // release devices before the thread goes away
  await host?.stop().catch(() => {});
  trace('host stopped');
  process.exit(code);
}

async function main(): Promise<void> {
  const { transport, control } = await createTransport();
  simControl = control;
  if (control) Comlink.expose(control, nodeEndpoint(data.control as MessagePort));
  host = new TransportHost(transport, { spinMicros: data.spinMicros, log: (m) => post({ t: 'err', s: m }) });

  const js = fs.readFileSync(data.program, 'utf8');
  checkLinked(js, path.basename(data.program));
  const wasmPath = data.program.replace(/\.m?js$/, '.wasm');
  const Module = createModule({
    programName: path.basename(data.program, path.extname(data.program)),
    args: data.args,
    env: data.env,
    stdin: data.stdin,
    mountHostFs: true,
    cwd: data.cwd,
  }, host, {
    stdout: (s) => post({ t: 'out', s }),
    stderr: (s) => post({ t: 'err', s }),
    exit: (code) => void exit(code),
  }, async () => WebAssembly.compile(await fs.promises.readFile(wasmPath)));

  // Evaluate the program's JS as a script whose free `Module` is ours.
  const moduleObj = { exports: {} as unknown };
  const fn = vm.compileFunction(js, ['Module', 'require', '__filename', '__dirname', 'module', 'exports'], { filename: data.program });
  fn(Module, createRequire(data.program), data.program, path.dirname(data.program), moduleObj, moduleObj.exports);
  // Emscripten starts pthreads with `new Worker(file)`. A .js file inside a
  // "type": "module" package would load as ESM and fail, so start its code
  // as a CommonJS script whatever package it sits in.
  (globalThis as { Worker?: unknown }).Worker = ScriptWorker;
  if (typeof moduleObj.exports === 'function') {
    // built with -sMODULARIZE: the export is a factory
    (moduleObj.exports as (m: unknown) => unknown)(Module);
  }
  post({ t: 'started' });
}

main().catch((e) => {
  post({ t: 'err', s: `libusb-wasm: ${e?.message ?? e}` });
  void exit(1);
});
