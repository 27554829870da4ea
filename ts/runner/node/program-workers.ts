/**
 * The program workers runProgram() gives programs: one booted ahead of
 * need when there is one (a host made with createHost() keeps one ready,
 * and `libusb-wasm run` boots one before it loads the rest of the runner),
 * else a new one. See ../common/spare.ts.
 * @module
 */
import { Worker, type TransferListItem } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { SpareWorker } from '../common/spare.js';
import type { NodeWorkerData, ProgramMessage } from './messages.js';

/**
 * Node's options for our workers: the caller's, but for those about how the
 * main script is read (`node --input-type=module -e ...`), which a worker
 * started from a file refuses.
 */
export function workerExecArgv(): string[] {
  return process.execArgv.filter((a, i, all) => !a.startsWith('--input-type') && all[i - 1] !== '--input-type'
    && a !== '-e' && a !== '--eval' && all[i - 1] !== '-e' && all[i - 1] !== '--eval' && a !== '-p' && a !== '--print');
}

/** The program worker's script, next to this module in dist/. */
const WORKER = fileURLToPath(new URL('./node-worker.js', import.meta.url));

/** A program worker booted ahead (it waits for its program in a message). */
export const spareProgramWorkers: SpareWorker<Worker> = new SpareWorker(() => {
  const w = new Worker(WORKER, { execArgv: workerExecArgv() });
  w.unref(); // waiting for a program keeps nothing alive
  w.once('error', () => spareProgramWorkers.lost(w));
  w.once('exit', () => spareProgramWorkers.lost(w));
  return w;
}, (w) => void w.terminate());

/** The program's worker: the one booted ahead when there is one, else a new one. */
export function programWorker(data: NodeWorkerData, transferList: TransferListItem[]): Worker {
  const spare = spareProgramWorkers.take();
  if (!spare) return new Worker(WORKER, { workerData: data, transferList, execArgv: workerExecArgv() });
  spare.ref();
  spare.postMessage({ t: 'program', data } satisfies ProgramMessage, transferList);
  return spare;
}
