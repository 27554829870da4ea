/**
 * The program's worker in Node (a worker_thread). It starts the Emscripten
 * program in this thread (with -sPROXY_TO_PTHREAD main() runs on a pthread)
 * and links it to the transport host, which runs in a worker of its own
 * (host-worker.ts): on libusb_init the program's memory is posted to
 * the host on `data.host`.
 * @module
 */
import { parentPort, workerData } from 'node:worker_threads';
import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import { pathToFileURL } from 'node:url';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { HostLink, type HostGoneMessage } from '../common/host-link.js';
import { checkLinked, createModule, wasmFileOf } from '../common/program.js';
import { isPosixToProgram, type PosixToProgram } from '../common/posix/messages.js';
import { type PosixRuntime, workerPosixRuntime } from '../common/posix/runtime.js';
import { SocketPolicy } from '../common/posix/socket-policy.js';
import type { NodeWorkerData, ProgramMessage, WorkerMessage } from './messages.js';
import { ScriptWorker, bootThread, requireFor } from './script-worker.js';
import { NetSocketBridge } from './socket-bridge.js';

const post = (m: WorkerMessage, transfer: ArrayBuffer[] = []) => parentPort!.postMessage(m, transfer);

let exiting = false;
let hostLink: HostLink | undefined;

const trace = process.env.LIBUSB_WASM_TRACE ? (m: string) => process.stderr.write(`[worker] ${m}\n`) : () => {};

/** The runner's side of the POSIX runtime, once this worker has its program (messages before that wait). */
let posix: PosixRuntime | undefined;
const beforePosix: PosixToProgram[] = [];
parentPort!.on('message', (m: unknown) => {
  if (!isPosixToProgram(m)) return;
  if (posix) posix.receive(m);
  else beforePosix.push(m);
});

function startPosix(data: NodeWorkerData): PosixRuntime {
  posix = workerPosixRuntime(data.terminal, new NetSocketBridge(new SocketPolicy(data.sockets)), post, (status) => void exit(status));
  for (const m of beforePosix.splice(0)) posix.receive(m);
  return posix;
}

async function exit(code: number): Promise<void> {
  trace(`exit(${code})`);
  if (exiting) return;
  exiting = true;
  posix?.end();
  // runProgram() detaches the program from its host when this thread ends;
  // a host lost under the program is said here too: this thread may see its
  // port close before runProgram() hears of the host's end, and a program
  // that lost its host must not end with status 0
  post({ t: 'exit', code, hostLost: hostLink?.lost });
  process.exit(code);
}

/**
 * The program this worker runs: in its workerData when it was started for
 * it, else in the first message (a worker booted ahead: ../common/spare.ts).
 */
function program(): Promise<NodeWorkerData> {
  if (workerData) return Promise.resolve(workerData as NodeWorkerData);
  return new Promise((resolve) => {
    const take = (m: ProgramMessage) => {
      if (m?.t !== 'program') return;
      parentPort!.off('message', take);
      resolve(m.data);
    };
    parentPort!.on('message', take);
  });
}

async function main(data: NodeWorkerData): Promise<void> {
  const posix = startPosix(data);
  const js = fs.readFileSync(data.program, 'utf8');
  checkLinked(js, path.basename(data.program));
  const wasmPath = wasmFileOf(data.program);
  const host = hostLink = new HostLink(data.host, (s) => post({ t: 'err', s }));
  // the host's worker ended (crashed, or was terminated): its end of the port closes
  data.host.on('close', () => host.hostGone('its worker ended'));
  parentPort!.on('message', (m: HostGoneMessage) => {
    if (m?.t === 'host-gone') host.hostGone(m.why);
  });
  const Module = createModule({
    programName: path.basename(data.program, path.extname(data.program)),
    args: data.args,
    env: data.env,
    posix,
    mountHostFs: true,
    cwd: data.cwd,
  }, host, {
    stdout: (s) => post({ t: 'out', s }),
    stderr: (s) => post({ t: 'err', s }),
    exit: (code) => void exit(code),
  }, async () => data.compiled ?? compileAndShare(wasmPath));
  if (data.plugin) {
    const plugin = await import(pathToFileURL(data.plugin.module).href);
    plugin.install(Module, nodeEndpoint(data.plugin.port));
  }

  // Evaluate the program's JS as a script whose free `Module` is ours.
  const moduleObj = { exports: {} as unknown };
  const fn = vm.compileFunction(js, ['Module', 'require', '__filename', '__dirname', 'module', 'exports'], { filename: data.program });
  fn(Module, requireFor(data.program), data.program, path.dirname(data.program), moduleObj, moduleObj.exports);
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

/** Compile the program's wasm, and give the module to runProgram() for the next run of the same file. */
async function compileAndShare(wasmPath: string): Promise<WebAssembly.Module> {
  const compiled = await WebAssembly.compile(await fs.promises.readFile(wasmPath));
  post({ t: 'compiled', module: compiled });
  return compiled;
}

// main()'s thread boots while the program loads (or while this worker waits for one)
bootThread();
program().then(main).catch((e) => {
  post({ t: 'err', s: `libusb-wasm: ${e?.message ?? e}` });
  void exit(1);
});
