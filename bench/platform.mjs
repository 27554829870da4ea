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
//   busy_other   share of the machine's CPU time used by other processes (not
//                this one nor its descendants: Chromium, helpers)
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

/** CPU ticks (user + system) of one process (Linux /proc), or undefined. */
function ticksOf(pid) {
  try {
    // pid (comm) state ppid ... utime(14) stime(15) cutime(16) cstime(17):
    // comm may hold spaces, so split after its ')'; cutime and cstime are its
    // children's that ended (and were waited for), with theirs in turn
    const raw = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = raw.slice(raw.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
  } catch {
    return undefined;
  }
}

/** This process and its descendants, from /proc/PID/task/TID/children (Linux). */
function ourPids() {
  const out = [];
  const visit = (pid) => {
    out.push(pid);
    let tasks = [];
    try {
      tasks = fs.readdirSync(`/proc/${pid}/task`);
    } catch { /* gone */ }
    for (const tid of tasks) {
      let children = '';
      try {
        children = fs.readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8');
      } catch { /* gone, or no such file in this kernel */ }
      for (const c of children.split(' ')) if (c.trim()) visit(Number(c));
    }
  };
  visit(process.pid);
  return out;
}

/** CPU ticks of this process and each of its descendants, by pid (empty where /proc is missing). */
function ourTicks() {
  const out = new Map();
  for (const pid of ourPids()) {
    const t = ticksOf(pid);
    if (t !== undefined) out.set(pid, t);
  }
  return out;
}

/**
 * Start watching the machine's CPU; stop() gives the share used by other
 * processes: everything but this process and its descendants (Chromium,
 * the busy process of the contention modes, the programs the cold start
 * spawns). A descendant that ended meanwhile is counted in its parent's
 * children's time (cutime, cstime), so short-lived ones are not missed
 * between samples; one that was already running at the start is counted
 * from then on.
 */
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
  const s0 = read();
  const first = ourTicks();
  const load0 = os.loadavg()[0];
  return {
    stop() {
      const s1 = read();
      const now = ourTicks();
      if (!s0 || !s1 || s1.total === s0.total) return { busy_other: null, loadavg: [load0, os.loadavg()[0]] };
      const busyTicks = (s1.total - s0.total) - (s1.idle - s0.idle);
      let oursTicks = 0;
      for (const [pid, ticks] of now) oursTicks += ticks - (first.get(pid) ?? 0);
      // gone since the start: their whole time is in a parent's cutime now
      for (const [pid, ticks] of first) if (!now.has(pid)) oursTicks -= ticks;
      return { busy_other: Math.max(0, busyTicks - oursTicks) / (s1.total - s0.total), loadavg: [load0, os.loadavg()[0]] };
    },
  };
}
