// What the machine itself allows, measured in the same run as the
// benchmarks: the floor under any cross-thread data path.
//
//   spin_rt_us   a round trip between two worker threads that spin on
//                shared memory (Atomics.load/store): what a handoff costs
//                when both threads run at once. When the machine cannot run
//                them at once (busy, or a VM whose CPUs are not scheduled
//                together) this takes as long as the scheduler makes it.
//   wake_rt_us   the same round trip when each side sleeps in Atomics.wait
//                and is woken by Atomics.notify: what a handoff costs when
//                the waiter sleeps.
//   busy_other   share of the machine's CPU time used by other processes
//                while the benchmarks ran (Linux /proc/stat; null elsewhere).
import { Worker } from 'node:worker_threads';
import fs from 'node:fs';
import os from 'node:os';

const PING_PONG = `(() => {
  const { workerData: { sab, role, mode, ms }, parentPort } = require('node:worker_threads');
  const i32 = new Int32Array(sab);
  const wait = (idx, k) => {
    if (mode === 'spin') { while (Atomics.load(i32, idx) !== k) if (Atomics.load(i32, 64) === 1) return false; return true; }
    for (let v; (v = Atomics.load(i32, idx)) !== k;) { if (Atomics.load(i32, 64) === 1) return false; Atomics.wait(i32, idx, v, 50); }
    return true;
  };
  const post = (idx, k) => { Atomics.store(i32, idx, k); if (mode === 'wait') Atomics.notify(i32, idx); };
  if (role === 'A') {
    const t0 = performance.now();
    let k = 1;
    for (; performance.now() - t0 < ms; k++) { post(0, k); if (!wait(32, k)) break; }
    const elapsed = performance.now() - t0;
    Atomics.store(i32, 64, 1);
    Atomics.notify(i32, 0);
    parentPort.postMessage({ n: k - 1, ms: elapsed });
  } else {
    for (let k = 1; ; k++) { if (!wait(0, k)) break; post(32, k); }
  }
})()`;

/** Round trips between two threads for `ms`: µs per round trip (Infinity if none completed). */
async function pingPong(mode, ms) {
  const sab = new SharedArrayBuffer(512);
  const b = new Worker(PING_PONG, { eval: true, workerData: { sab, role: 'B', mode, ms } });
  const a = new Worker(PING_PONG, { eval: true, workerData: { sab, role: 'A', mode, ms } });
  const r = await new Promise((resolve, reject) => {
    a.once('message', resolve);
    a.once('error', reject);
  });
  await Promise.all([a.terminate(), b.terminate()]);
  return r.n ? (r.ms * 1000) / r.n : Infinity;
}

export async function measureFloor(ms = 100) {
  return { spin_rt_us: await pingPong('spin', ms), wake_rt_us: await pingPong('wait', ms) };
}

/** Start watching the machine's CPU; stop() gives the share used by other processes. */
export function watchLoad() {
  const read = () => {
    try {
      const [, ...f] = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).map(Number);
      const idle = f[3] + (f[4] || 0);
      return { total: f.reduce((a, b) => a + b, 0), idle };
    } catch {
      return undefined;
    }
  };
  const tick = 100; // USER_HZ on Linux
  const s0 = read();
  const c0 = process.cpuUsage();
  const load0 = os.loadavg()[0];
  return {
    stop() {
      const s1 = read();
      const c = process.cpuUsage(c0);
      if (!s0 || !s1 || s1.total === s0.total) return { busy_other: null, loadavg: [load0, os.loadavg()[0]] };
      const busyTicks = (s1.total - s0.total) - (s1.idle - s0.idle);
      const oursTicks = ((c.user + c.system) / 1e6) * tick;
      return { busy_other: Math.max(0, busyTicks - oursTicks) / (s1.total - s0.total), loadavg: [load0, os.loadavg()[0]] };
    },
  };
}
