/**
 * The threads an Emscripten program starts in Node (its pthreads, main()
 * first with -sPROXY_TO_PTHREAD), as the program's worker gives them.
 *
 * Emscripten starts each with `new Worker(file)`. A .js file inside a
 * `"type": "module"` package would load as ESM and fail, so the file's code
 * runs as a CommonJS script whatever package it sits in. And a thread
 * takes tens of milliseconds to boot before it can load anything, which
 * main()'s thread would pay after the program's runtime is up: one thread
 * is booted as soon as the program's worker starts ({@link bootThread}),
 * and the first `new Worker(file)` takes it.
 * @module
 */
import { Worker, type WorkerOptions } from 'node:worker_threads';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** A thread booted ahead: it runs the first script it is sent (direct eval: the script sees this scope's `require`). */
const IDLE_THREAD = `require('node:worker_threads').parentPort.once('message', (m) => { eval(m.script); });`;

let booted: Worker | undefined;

/** Boot a thread for the program's first pthread, now. */
export function bootThread(): void {
  booted ??= new Worker(IDLE_THREAD, { eval: true });
}

/** A worker_threads Worker that runs a script file as CommonJS, in the thread booted ahead when there is one. */
export class ScriptWorker extends Worker {
  constructor(file: string | URL, options: WorkerOptions = {}) {
    const p = file instanceof URL ? fileURLToPath(file) : String(file);
    if (options.eval || !/\.c?js$/.test(p)) {
      super(file, options);
      return;
    }
    const script = `(function (__filename, __dirname) {\n${fs.readFileSync(p, 'utf8')}\n})(${JSON.stringify(p)}, ${JSON.stringify(path.dirname(p))});`;
    const thread = booted;
    // (a thread started with options of its own cannot be one booted without them)
    if (thread && Object.keys(options).every((k) => k === 'name')) {
      booted = undefined;
      thread.postMessage({ script });
      return thread as ScriptWorker;
    }
    super(script, { ...options, eval: true });
  }
}

/**
 * The `require` the program's JS gets: its own, except that
 * `worker_threads` hands out ScriptWorker as `Worker` (Emscripten's
 * runtime sets `global.Worker` from it while it loads, and may start a
 * thread pool right then).
 */
export function requireFor(program: string): NodeJS.Require {
  const own = createRequire(program);
  const workerThreads = { ...own('node:worker_threads'), Worker: ScriptWorker };
  const patched = ((id: string) => (id === 'worker_threads' || id === 'node:worker_threads' ? workerThreads : own(id))) as NodeJS.Require;
  return Object.assign(patched, { resolve: own.resolve, cache: own.cache, extensions: own.extensions, main: own.main });
}
