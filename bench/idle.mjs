#!/usr/bin/env node
// What waiting costs: the process's CPU time while bench/c/idle.c waits with
// nothing happening (see that file), per transport and mode. Every thread
// of the process counts: the program's pthreads, its worker, the transport
// host, and this script's own (idle) main thread.
//
//   node bench/idle.mjs [--ms 5000] [--transport sim,webusb] [--mode events,transfer]
//
// Prints one line per measurement; the figures are in bench/RESULTS.md's notes.
import path from 'node:path';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const TRANSPORTS = {
  sim: { devices: ['loopback'] },
  webusb: { transport: { kind: 'webusb', devices: ['loopback'], protectedClasses: [] } },
};

const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/** CPU time the process spends while the program waits `ms` in `mode`. */
export async function measureIdle({ transport, mode, ms = 5000 }) {
  const { runProgram } = await import(path.join(ROOT, 'dist/node.js'));
  let c0 = 0;
  let t0 = 0;
  let result;
  const errors = [];
  const p = runProgram({
    program: path.join(ROOT, 'build/bench/idle.js'), args: [mode, '--ms', String(ms)], ...TRANSPORTS[transport],
    stdout: (line) => {
      if (/^idle=\w+ start/.test(line)) {
        c0 = cpuMs();
        t0 = performance.now();
      } else if (/^idle=\w+ ms=/.test(line)) {
        result = { transport, mode, cpuMs: cpuMs() - c0, wallMs: performance.now() - t0, line };
      } else errors.push(line);
    },
    stderr: (line) => errors.push(line),
  });
  const code = await p.exited;
  if (code !== 0 || !result) throw new Error(`idle.js ${mode} exited with status ${code}:\n${errors.join('\n')}`);
  return { ...result, percent: (100 * result.cpuMs) / result.wallMs };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = (name, dflt) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? process.argv[i + 1] : dflt;
  };
  const ms = Number(arg('--ms', '5000'));
  for (const transport of arg('--transport', 'sim,webusb').split(',')) {
    for (const mode of arg('--mode', 'events,transfer').split(',')) {
      const r = await measureIdle({ transport, mode, ms });
      console.log(`${transport.padEnd(7)} ${mode.padEnd(9)} ${r.cpuMs.toFixed(1)} ms CPU in ${r.wallMs.toFixed(0)} ms (${r.percent.toFixed(2)}% of one core)  [${r.line}]`);
    }
  }
}
