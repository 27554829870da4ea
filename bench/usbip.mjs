#!/usr/bin/env node
// The USB/IP benchmark (run by `make bench`; writes bench/USBIP.md).
//
// A `libusb-wasm usbip-serve` of the simulated loopback device runs in a
// process of its own, as a server on another machine would. Per run and
// per case, alternating:
//   wasm      bench/c/datapath.c through runProgram() with the usbip
//             transport: libusb in wasm, the transport host, USB/IP over TCP;
//   JS        the same loop in JS doing the same USB/IP exchanges directly
//             (bench/js/baseline.ts, target 'usbip': our codec on one TCP
//             connection, no wasm, no libusb, no transport host);
//   raw TCP   for the 64 KiB async cases: the same bytes moved through a
//             plain TCP echo server (another process) with the same number
//             of messages in flight, without USB/IP: what this machine's
//             loopback allows.
// It reports medians of the runs (min – max), the added cost per
// synchronous transfer, and async 64 KiB throughput against raw TCP
// (target: at least half).
//
//   node bench/usbip.mjs [--runs 5] [--ms 400] [--warmup 100] [--cases a,b] [--no-write]
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { bundleBaseline } from './modes.mjs';
import { caseKey, fmt, parseLine, stats, table } from './report.mjs';
import { writeKeepingNotes } from './results-file.mjs';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const BUILD = path.join(ROOT, 'build/bench');
const RESULTS = path.join(ROOT, 'bench/USBIP.md');
const DEFAULT_CASES = ['control', 'sync:64', 'sync:512', 'sync:4096', 'sync:65536',
  'async:4096:8', 'async:4096:32', 'async:65536:8', 'async:65536:32'];

/** The command line's options (usage and exit on a bad one). */
function options(args) {
  let v;
  try {
    ({ values: v } = parseArgs({
      args, strict: true, allowPositionals: false, options: {
        runs: { type: 'string', default: '5' }, ms: { type: 'string', default: '400' }, warmup: { type: 'string', default: '100' },
        cases: { type: 'string', default: DEFAULT_CASES.join(',') }, 'no-write': { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    usage(e.message);
  }
  if (v.help) usage();
  const o = { runs: Number(v.runs), ms: Number(v.ms), warmup: Number(v.warmup), cases: v.cases.split(','), write: !v['no-write'] };
  if (!(o.runs >= 1) || !(o.ms > 0) || !(o.warmup >= 0)) usage('--runs, --ms and --warmup take positive numbers');
  return o;
}

function usage(error) {
  const text = 'usage: node bench/usbip.mjs [--runs N] [--ms N] [--warmup N] [--cases control,sync:64,async:65536:8,...] [--no-write]';
  if (error) console.error(`bench/usbip: ${error}`);
  console[error ? 'error' : 'log'](text);
  process.exit(error ? 2 : 0);
}

const bold = (s) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);

/** Start a child process and wait for the line that says where it listens. */
function startProcess(args, pattern, what) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${what} did not start within 30 s:\n${text}`));
    }, 30_000);
    const look = (d) => {
      text += d;
      const m = pattern.exec(text);
      if (m) {
        clearTimeout(timer);
        resolve({ port: Number(m[1]), stop: () => new Promise((r) => { child.once('close', r); child.kill('SIGINT'); }) });
      }
    };
    child.stdout.on('data', look);
    child.stderr.on('data', look);
    child.on('close', (code) => reject(new Error(`${what} exited (${code}):\n${text}`)));
  });
}

/** A TCP echo server in a process of its own. */
const ECHO_SERVER = `
  const net = require('node:net');
  const s = net.createServer((c) => { c.setNoDelay(true); c.on('data', (d) => c.write(d)); c.on('error', () => {}); });
  s.listen(0, '127.0.0.1', () => console.log('echo listening on ' + s.address().port));
  process.on('SIGINT', () => process.exit(0));`;

/** Raw TCP: `inflight` messages of `size` bytes, each echoed back, for `ms` (after `warmup`). */
const RAW_CLIENT = `
  const net = require('node:net');
  const { workerData: { port, size, inflight, ms, warmup }, parentPort } = require('node:worker_threads');
  const socket = net.connect({ host: '127.0.0.1', port }, () => {
    socket.setNoDelay(true);
    const message = Buffer.alloc(size, 7);
    let received = 0, due = 0, ops = 0, end = performance.now() + warmup, t0 = performance.now(), timed = false, last = 0, active = inflight;
    const send = () => { socket.write(message); };
    socket.on('data', (d) => {
      received += d.length;
      while (received >= size && active > 0) {
        received -= size;
        ops++;
        last = performance.now();
        if (last < end) send();
        else if (--active === 0) {
          if (!timed) { timed = true; ops = 0; t0 = performance.now(); end = t0 + ms; active = inflight; for (let i = 0; i < inflight; i++) send(); }
          else { socket.destroy(); parentPort.postMessage({ ops, seconds: (last - t0) / 1000 }); }
        }
      }
    });
    for (let i = 0; i < inflight; i++) send();
  });`;

function runRaw(port, size, inflight, o) {
  return new Promise((resolve, reject) => {
    const w = new Worker(RAW_CLIENT, { eval: true, workerData: { port, size, inflight, ms: o.ms, warmup: o.warmup } });
    w.once('message', ({ ops, seconds }) => {
      void w.terminate();
      resolve({ bench: 'raw', size, inflight, ops, per_s: ops / seconds, us: (seconds * 1e6) / ops, MBps: (2 * size * ops) / seconds / 1e6 });
    });
    w.once('error', reject);
  });
}

async function runWasm(runProgram, server, args) {
  const lines = [];
  const errors = [];
  const p = runProgram({
    program: path.join(BUILD, 'datapath.js'), args, transport: 'usbip', server,
    stdout: (l) => (l.startsWith('error:') ? errors.push(l) : lines.push(l)), stderr: (l) => errors.push(l),
  });
  const code = await p.exited;
  if (code !== 0) throw new Error(`datapath exited with status ${code}:\n${errors.join('\n')}`);
  return lines.map(parseLine).filter(Boolean);
}

function runBaseline(script, data) {
  return new Promise((resolve, reject) => {
    const w = new Worker(script, { workerData: data });
    const lines = [];
    let failure;
    w.on('message', (m) => {
      if (typeof m === 'string') lines.push(parseLine(m));
      else if (m.error) failure = new Error(`JS baseline: ${m.error}`);
      else if (m.done) void w.terminate();
    });
    w.on('error', (e) => (failure = e));
    w.on('exit', () => (failure ? reject(failure) : resolve(lines.filter(Boolean))));
  });
}

// ---- statistics and the report ------------------------------------------------

// Not report.mjs's label(): for 1 MiB and more this says "1024 KiB" (report.mjs: "1 MiB") and an
// in:SIZE:N case reads "async bulk OUT+IN", so using it would change USBIP.md for those --cases.
function label(key) {
  const [bench, size, inflight] = key.split(':');
  const s = Number(size) >= 1024 ? `${Number(size) / 1024} KiB` : `${size} B`;
  if (bench === 'control') return 'sync control GET_DESCRIPTOR (18 B)';
  if (bench === 'sync') return `sync bulk OUT+IN ${s}`;
  return `async bulk OUT+IN ${s}, ${inflight} in flight`;
}

function markdown(o, byCase, raw, load) {
  const out = ['# USB/IP benchmark', '', 'Generated by `make bench` (bench/usbip.mjs); the notes at the end are written by hand.', ''];
  const cpus = os.cpus();
  out.push(`- date: ${new Date().toISOString().replace('T', ' ').replace(/\..*/, ' UTC')}`);
  out.push(`- machine: ${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${cpus.length} cores, Node ${process.version}, ${os.type()} ${os.release()}`);
  out.push(`- load average during the runs: ${load.map((x) => x.toFixed(1)).join(' → ')} (the machine is shared)`);
  out.push(`- method: ${o.runs} runs; per run and case, the wasm program, then the JS baseline, then (64 KiB async) raw TCP, ` +
    `each in a fresh worker; ${o.ms} ms timed after ${o.warmup} ms warm-up; median of the runs (min – max). ` +
    'Server: `libusb-wasm usbip-serve --devices loopback` in its own process, on 127.0.0.1. ' +
    'MB/s counts the payload both ways (MB = 10^6 bytes); "added" is the extra time per transfer over the baseline (a round trip is two transfers).', '');
  const rows = [];
  for (const [key, c] of byCase) {
    const w = stats(c.wasm.map((r) => r.us));
    const b = stats(c.base.map((r) => r.us));
    const perOp = key === 'control' ? 1 : 2;
    const added = (w.median - b.median) / perOp;
    const big = !key.startsWith('control') && Number(key.split(':')[1]) >= 4096;
    const show = (list, s) => (big ? `${fmt(stats(list.map((r) => r.MBps)).median)} MB/s` : `${fmt(1e6 / s.median)}/s (${s.median.toFixed(1)} µs)`);
    rows.push([label(key), show(c.wasm, w), `${fmt(w.min, 1)} – ${fmt(w.max, 1)} µs`, show(c.base, b), `${fmt(b.min, 1)} – ${fmt(b.max, 1)} µs`,
      `${(b.median / w.median).toFixed(2)}×`, `${added >= 0 ? '+' : ''}${added.toFixed(1)} µs`]);
  }
  out.push(table(['case', 'wasm over usbip', 'µs/op min – max', 'JS baseline', 'µs/op min – max', 'wasm / baseline (speed)', 'added per transfer'], rows), '');
  out.push('## Async 64 KiB against raw TCP', '');
  const rawRows = [];
  const goals = [];
  for (const [key, list] of raw) {
    const r = stats(list.map((x) => x.MBps));
    const c = byCase.get(key);
    const w = stats(c.wasm.map((x) => x.MBps));
    const b = stats(c.base.map((x) => x.MBps));
    const ratio = w.median / r.median;
    rawRows.push([label(key), `${fmt(w.median)} MB/s`, `${fmt(b.median)} MB/s`, `${fmt(r.median)} MB/s (${fmt(r.min)} – ${fmt(r.max)})`,
      `${ratio.toFixed(2)}×`, ratio >= 0.5 ? 'met' : '**missed**']);
    goals.push(ratio);
  }
  out.push(table(['case', 'wasm over usbip', 'JS baseline over usbip', 'raw TCP, same bytes', 'wasm / raw TCP', 'target ≥ 0.5×'], rawRows), '');
  return out.join('\n');
}

const NOTES_MARKER = '<!-- notes: written by hand, kept by bench/usbip.mjs -->';

// ---- main --------------------------------------------------------------------------

async function main() {
  const o = options(process.argv.slice(2));
  for (const f of ['dist/node.js', 'dist/cli.js', 'build/bench/datapath.js']) {
    if (!fs.existsSync(path.join(ROOT, f))) usage(`${f} is missing: run \`make bench\` (it builds first) or \`make\``);
  }
  const { runProgram } = await import(path.join(ROOT, 'dist/node.js'));
  const baselineScript = path.join(BUILD, 'usbip-baseline.mjs');
  await bundleBaseline(ROOT, baselineScript);

  console.log(bold(`==> usbip transport against usbip-serve (loopback): ${o.runs} runs of ${o.cases.length} cases, wasm, JS baseline, raw TCP`));
  const usbipServer = await startProcess([path.join(ROOT, 'dist/cli.js'), 'usbip-serve', '--devices', 'loopback', '--port', '0'],
    /listening on 127\.0\.0\.1:(\d+)/, 'usbip-serve');
  const echo = await startProcess(['-e', ECHO_SERVER], /echo listening on (\d+)/, 'the TCP echo server');
  const server = `127.0.0.1:${usbipServer.port}`;
  const byCase = new Map();
  const raw = new Map();
  const load = [os.loadavg()[0]];
  try {
    for (let i = 1; i <= o.runs; i++) {
      for (const c of o.cases) {
        const args = ['--ms', String(o.ms), '--warmup', String(o.warmup), c];
        const [w] = await runWasm(runProgram, server, args);
        const [b] = await runBaseline(baselineScript, { mode: 'datapath', target: 'usbip', delivery: 'microtask', server, cases: [c], ms: o.ms, warmup: o.warmup });
        const key = caseKey(w);
        if (!byCase.has(key)) byCase.set(key, { wasm: [], base: [] });
        byCase.get(key).wasm.push(w);
        byCase.get(key).base.push(b);
        let line = `  [run ${i}/${o.runs}] ${key.padEnd(14)} wasm ${w.us.toFixed(1)} µs/op ${fmt(w.MBps)} MB/s | JS ${b.us.toFixed(1)} µs/op ${fmt(b.MBps)} MB/s`;
        if (w.bench === 'async' && w.size === 65536) {
          const r = await runRaw(echo.port, w.size, w.inflight, o);
          if (!raw.has(key)) raw.set(key, []);
          raw.get(key).push(r);
          line += ` | raw TCP ${fmt(r.MBps)} MB/s`;
        }
        console.log(line);
      }
    }
  } finally {
    await usbipServer.stop();
    await echo.stop();
  }
  load.push(os.loadavg()[0]);
  const md = markdown(o, byCase, raw, load);
  console.log(`\n${md}`);
  if (o.write) {
    writeKeepingNotes(RESULTS, md, NOTES_MARKER);
    console.log(bold(`==> wrote ${path.relative(process.cwd(), RESULTS)}`));
  }
  process.exit(0);
}

main().catch((e) => {
  console.error(`bench/usbip: ${e?.stack ?? e}`);
  process.exit(1);
});
