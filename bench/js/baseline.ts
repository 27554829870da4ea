/**
 * The JS baseline in a Node worker thread (bench/run.mjs starts a fresh one
 * per case, as the wasm program gets one): the loops of loops.ts on the
 * device object targets.ts makes, each line posted to the parent.
 * @module
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { ResultDelivery } from '../../ts/sim/webusb/delivery.js';
import { runCases } from './loops.js';
import { makeTarget, type TargetName } from './targets.js';

interface Options {
  mode: 'cold_start' | 'datapath';
  target: TargetName;
  delivery: ResultDelivery;
  cases: string[];
  ms: number;
  warmup: number;
  /** performance.timeOrigin of the parent when it created this worker (cold start). */
  spawnedAt?: number;
  /** The usbip target: the usbip-serve to reach, host:port. */
  server?: string;
}

const emit = (line: string) => parentPort!.postMessage(line);

async function main(o: Options): Promise<void> {
  const target = await makeTarget(o.target, o.delivery, o.server);
  if (o.mode === 'cold_start') {
    emit(`bench=cold_start devices=1 ready_ms=${(performance.timeOrigin + performance.now() - o.spawnedAt!).toFixed(3)}`);
    return;
  }
  // (process-wide, but nothing else of this process runs meanwhile: the harness waits, and its busy load is another process)
  await runCases(target, o.cases, { ...o, cpuNow: () => {
    const u = process.cpuUsage();
    return u.user + u.system;
  } }, emit);
}

main(workerData as Options).then(
  () => parentPort!.postMessage({ done: true }),
  (e) => parentPort!.postMessage({ error: String(e?.stack ?? e) }),
);
