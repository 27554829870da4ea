/**
 * The program's worker in Node (a worker_thread). It starts the Emscripten
 * program in this thread (with -sPROXY_TO_PTHREAD main() runs on a pthread)
 * and links it to the transport host, which runs in a worker of its own
 * (host-worker.ts): on libusb_init the program's memory is posted to
 * the host on `data.host`.
 * @module
 */
import { parentPort, workerData, Worker, type WorkerOptions } from 'node:worker_threads';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import { fileURLToPath, pathToFileURL } from 'node:url';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { HostLink, type HostGoneMessage } from '../common/host-link.js';
import { checkLinked, createModule, wasmFileOf } from '../common/program.js';
import type { NodeWorkerData, WorkerMessage } from './messages.js';

const data = workerData as NodeWorkerData;
const post = (m: WorkerMessage) => parentPort!.postMessage(m);

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

let exiting = false;

const trace = process.env.LIBUSB_WASM_TRACE ? (m: string) => process.stderr.write(`[worker] ${m}\n`) : () => {};

async function exit(code: number): Promise<void> {
  trace(`exit(${code})`);
  if (exiting) return;
  exiting = true;
  // runProgram() detaches the program from its host when this thread ends
  post({ t: 'exit', code });
  process.exit(code);
}

async function main(): Promise<void> {
  const js = fs.readFileSync(data.program, 'utf8');
  checkLinked(js, path.basename(data.program));
  const wasmPath = wasmFileOf(data.program);
  const host = new HostLink(data.host, (s) => post({ t: 'err', s }));
  // the host's worker ended (crashed, or was terminated): its end of the port closes
  data.host.on('close', () => host.hostGone('its worker ended'));
  parentPort!.on('message', (m: HostGoneMessage) => {
    if (m?.t === 'host-gone') host.hostGone(m.why);
  });
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
  if (data.plugin) {
    const plugin = await import(pathToFileURL(data.plugin.module).href);
    plugin.install(Module, nodeEndpoint(data.plugin.port));
  }

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
