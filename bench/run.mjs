#!/usr/bin/env node
// The benchmark harness behind `make bench`.
//
// For each transport and each of --runs runs, it runs, alternating:
//   the cold start   bench/c/coldstart.c through runProgram(), timed from
//                    the JS side (runProgram() to the program's first line),
//                    and the JS baseline's worker start to its device list;
//   the data path    per case, bench/c/datapath.c (one line), then the
//                    same loop in JS (bench/js/baseline.ts) in a fresh
//                    worker, against the same simulated device.
// Then it reports, per measurement, the median of the runs with min and max,
// the baseline's, and their ratio, plus the size of libusb's part of a
// program (bench/size.mjs), and writes bench/RESULTS.md.
//
//   node bench/run.mjs [--runs 5] [--ms 400] [--warmup 100] [--transport sim,webusb]
//                      [--cases control,sync:64,...] [--no-size] [--no-write]
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { build } from 'esbuild';
import { measureFloor, watchLoad } from './platform.mjs';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const BUILD = path.join(ROOT, 'build/bench');
const RESULTS = path.join(ROOT, 'bench/RESULTS.md');

// ---- options -----------------------------------------------------------------

const DEFAULT_CASES = [
  'control',
  'sync:64', 'sync:512', 'sync:4096', 'sync:65536', 'sync:1048576',
  'async:64:8', 'async:512:8', 'async:4096:8', 'async:65536:8', 'async:1048576:8',
  'in:512:32',
];

/**
 * The transports measured. Each says how runProgram() reaches the loopback
 * device and which JS baseline (bench/js/baseline.ts `targets`) goes with it.
 */
const TRANSPORTS = {
  sim: { run: { devices: ['loopback'] }, baseline: 'sim' },
  // the webusb transport over the same device behind navigator.usb's shape (ts/sim/webusb/)
  webusb: { run: { transport: { kind: 'webusb', devices: ['loopback'], protectedClasses: [] } }, baseline: 'webusb' },
};

function parseArgs(argv) {
  const o = { runs: 5, ms: 400, warmup: 100, transports: Object.keys(TRANSPORTS), cases: DEFAULT_CASES, size: true, write: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--runs') o.runs = Number(next());
    else if (a === '--ms') o.ms = Number(next());
    else if (a === '--warmup') o.warmup = Number(next());
    else if (a === '--transport') o.transports = next().split(',');
    else if (a === '--cases') o.cases = next().split(',');
    else if (a === '--no-size') o.size = false;
    else if (a === '--no-write') o.write = false;
    else if (a === '--help' || a === '-h') usage();
    else usage(`unknown option ${a}`);
  }
  if (!(o.runs >= 1) || !(o.ms > 0) || !(o.warmup >= 0)) usage('--runs, --ms and --warmup take positive numbers');
  for (const t of o.transports) {
    if (!TRANSPORTS[t]) usage(`unknown transport '${t}'; available: ${Object.keys(TRANSPORTS).join(', ')}`);
  }
  return o;
}

function usage(error) {
  const text = 'usage: node bench/run.mjs [--runs N] [--ms N] [--warmup N] [--transport sim,webusb] [--cases a,b] [--no-size] [--no-write]';
  if (error) {
    console.error(`bench: ${error}\n${text}`);
    process.exit(2);
  }
  console.log(text);
  process.exit(0);
}

// ---- running ---------------------------------------------------------------

const bold = (s) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);

/** `key=value key=value` into an object (numbers where they parse). */
function parseLine(line) {
  if (!line.startsWith('bench=')) return undefined;
  const r = {};
  for (const part of line.trim().split(/\s+/)) {
    const eq = part.indexOf('=');
    const v = part.slice(eq + 1);
    r[part.slice(0, eq)] = /^-?[\d.]+$/.test(v) ? Number(v) : v;
  }
  return r;
}

const caseKey = (r) => (r.bench === 'control' ? 'control' : `${r.bench}:${r.size}${r.bench === 'sync' ? '' : `:${r.inflight}`}`);

function describe(r) {
  if (r.bench === 'control') return `${r.us.toFixed(2)} us/transfer`;
  if (r.bench === 'in') return `${fmt(r.per_s)} transfers/s, ${fmt(r.MBps)} MB/s`;
  return `${fmt(r.per_s)} round trips/s, ${fmt(r.MBps)} MB/s`;
}

function fmtUs(us) {
  return Number.isFinite(us) ? `${us.toFixed(2)} µs` : 'did not complete (the threads never ran at the same time)';
}

function fmt(n, digits = 0) {
  if (n >= 100) digits = 0;
  else if (n >= 10 && digits > 1) digits = 1;
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

async function runWasm(runProgram, program, args, transport, onLine) {
  const errors = [];
  const p = runProgram({
    program: path.join(BUILD, program), args, ...TRANSPORTS[transport].run,
    stdout: (line) => (line.startsWith('error:') ? errors.push(line) : onLine(line)),
    stderr: (line) => errors.push(line),
  });
  const code = await p.exited;
  if (code !== 0) throw new Error(`${program} exited with status ${code}:\n${errors.join('\n')}`);
}

function runBaseline(script, data, onLine) {
  return new Promise((resolve, reject) => {
    const w = new Worker(script, { workerData: data });
    let failure;
    w.on('message', (m) => {
      if (typeof m === 'string') onLine(m);
      else if (m.error) failure = new Error(`JS baseline: ${m.error}`);
      else if (m.done) void w.terminate();
    });
    w.on('error', (e) => (failure = e));
    w.on('exit', () => (failure ? reject(failure) : resolve()));
  });
}

async function coldStart(runProgram, baselineScript, transport) {
  let t0 = performance.now();
  let wasm;
  await runWasm(runProgram, 'coldstart.js', [], transport, (line) => {
    const r = parseLine(line);
    if (r?.bench === 'cold_start' && wasm === undefined) wasm = { ...r, ms: performance.now() - t0 };
  });
  t0 = performance.now();
  let base;
  await runBaseline(baselineScript, { mode: 'cold_start', transport: TRANSPORTS[transport].baseline, cases: [], ms: 0, warmup: 0 },
    (line) => {
      if (base === undefined) base = { ...parseLine(line), ms: performance.now() - t0 };
    });
  if (!wasm || !base) throw new Error('cold start: a program did not report');
  return { wasm, base };
}

// ---- statistics and reports ---------------------------------------------------

function stats(values) {
  const v = [...values].sort((a, b) => a - b);
  const mid = v.length >> 1;
  return { median: v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2, min: v[0], max: v[v.length - 1], n: v.length };
}

/** Per case: the median/min/max of what matters, wasm and baseline. */
function summarize(runs) {
  const byCase = new Map();
  for (const side of ['wasm', 'base']) {
    for (const run of runs) {
      for (const r of run[side]) {
        const key = caseKey(r);
        if (!byCase.has(key)) byCase.set(key, { key, bench: r.bench, size: r.size, inflight: r.inflight, wasm: [], base: [] });
        byCase.get(key)[side].push(r);
      }
    }
  }
  return [...byCase.values()].map((c) => {
    const s = (side, f) => stats(c[side].map(f));
    return {
      ...c,
      perS: { wasm: s('wasm', (r) => r.per_s), base: s('base', (r) => r.per_s) },
      us: { wasm: s('wasm', (r) => r.us), base: s('base', (r) => r.us) },
      MBps: { wasm: s('wasm', (r) => r.MBps), base: s('base', (r) => r.MBps) },
    };
  });
}

/** Transfers per op: a round trip is two. */
const transfersPerOp = (c) => (c.bench === 'sync' || c.bench === 'async' ? 2 : 1);

function label(c) {
  const size = c.size >= 1048576 ? `${c.size / 1048576} MiB` : c.size >= 1024 ? `${c.size / 1024} KiB` : `${c.size} B`;
  if (c.bench === 'control') return 'sync control GET_DESCRIPTOR (18 B)';
  if (c.bench === 'sync') return `sync bulk OUT+IN ${size}`;
  if (c.bench === 'async') return `async bulk OUT+IN ${size}, ${c.inflight} in flight`;
  return `async bulk IN ${size}, ${c.inflight} in flight`;
}

function range(s, f) {
  return `${f(s.min)} – ${f(s.max)}`;
}

function caseRows(summary) {
  const rows = [];
  for (const c of summary) {
    const ratio = c.perS.wasm.median / c.perS.base.median;
    const added = (c.us.wasm.median - c.us.base.median) / transfersPerOp(c);
    if (c.bench === 'control') {
      const f = (n) => fmt(n, 2);
      rows.push([label(c), `${f(c.us.wasm.median)} µs/transfer`, range(c.us.wasm, f), `${f(c.us.base.median)} µs`, range(c.us.base, f),
        `${ratio.toFixed(2)}×`, `+${added.toFixed(2)} µs`]);
    } else {
      const unit = c.bench === 'in' ? 'transfers/s' : 'round trips/s';
      const big = c.size >= 4096;
      const main = big ? (s) => `${fmt(s.median)} MB/s` : (s) => `${fmt(s.median)} ${unit}`;
      const pick = big ? c.MBps : c.perS;
      rows.push([label(c), `${main(pick.wasm)}${big ? ` (${fmt(c.perS.wasm.median)}/s)` : ''}`, range(pick.wasm, (n) => fmt(n)),
        main(pick.base), range(pick.base, (n) => fmt(n)), `${ratio.toFixed(2)}×`,
        `${added >= 0 ? '+' : ''}${added.toFixed(2)} µs`]);
    }
  }
  return rows;
}

function table(header, rows) {
  const line = (cells) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

const GOALS = [
  { what: 'added cost per synchronous transfer over the baseline', target: '≤ 12.5 µs',
    value: (s) => Math.max(...s.filter((c) => c.bench === 'control' || (c.bench === 'sync' && c.size <= 512))
      .map((c) => (c.us.wasm.median - c.us.base.median) / transfersPerOp(c))),
    show: (v) => `${v.toFixed(2)} µs (worst of control, sync 64 B and 512 B)`, ok: (v) => v <= 12.5 },
  { what: 'sync 64 B bulk round trips', target: '≥ 45,000/s', value: (s) => s.find((c) => c.key === 'sync:64')?.perS.wasm.median,
    show: (v) => `${fmt(v)}/s`, ok: (v) => v >= 45000 },
  { what: 'async 512 B round trips, 8 in flight', target: '≥ 140,000/s', value: (s) => s.find((c) => c.key === 'async:512:8')?.perS.wasm.median,
    show: (v) => `${fmt(v)}/s`, ok: (v) => v >= 140000 },
  { what: 'async 512 B IN, 32 in flight', target: '≥ 300,000/s', value: (s) => s.find((c) => c.key === 'in:512:32')?.perS.wasm.median,
    show: (v) => `${fmt(v)}/s`, ok: (v) => v >= 300000 },
  { what: 'async 64 KiB round trips, 8 in flight, payload', target: '≥ 4 GB/s', value: (s) => s.find((c) => c.key === 'async:65536:8')?.MBps.wasm.median,
    show: (v) => `${(v / 1000).toFixed(2)} GB/s`, ok: (v) => v >= 4000 },
];

function machine() {
  const cpus = os.cpus();
  let emcc = '?';
  try {
    emcc = execFileSync('emcc', ['--version'], { encoding: 'utf8' }).split('\n')[0].replace(/^emcc \(.*?\)\s*/, '').trim() || '?';
  } catch { /* not installed */ }
  return `${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${cpus.length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ` +
    `${os.type()} ${os.release()}, Node ${process.version}, Emscripten ${emcc}`;
}

function commit() {
  try {
    const id = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT, encoding: 'utf8' }).trim();
    return dirty ? `${id} (with uncommitted changes)` : id;
  } catch {
    return 'unknown';
  }
}

function markdown(o, perTransport, size) {
  const out = [];
  out.push('# Benchmark results', '');
  out.push('Generated by `make bench` (bench/run.mjs); the notes at the end are written by hand.', '');
  out.push(`- date: ${new Date().toISOString().replace('T', ' ').replace(/\..*/, ' UTC')}`);
  out.push(`- machine: ${machine()}`);
  out.push(`- commit: ${commit()}`);
  out.push(`- method: ${o.runs} runs, alternating the wasm program and the JS baseline, each case in a fresh program and a fresh baseline worker; ` +
    `each case ${o.ms} ms timed after ${o.warmup} ms warm-up; ` +
    'median of the runs, with min – max. MB/s counts the payload of every transfer, both directions (MB = 10^6 bytes). ' +
    '"added" is the extra time per transfer over the baseline (a round trip is two transfers).');
  out.push('');
  for (const { transport, summary, cold, floor, load } of perTransport) {
    out.push(`## ${transport} transport`, '');
    out.push('The baseline is the same loop written in JS directly against the same simulated device (no wasm, no libusb), ' +
      'each in-flight slot reusing its buffers as the C loop does (bench/js/baseline.ts).', '');
    const f = (s) => (Number.isFinite(s.median) ? `${s.median.toFixed(2)} µs (${fmtUs(s.min)} – ${fmtUs(s.max)})` : fmtUs(s.median));
    out.push(`Platform during these runs (bench/platform.mjs): a round trip between two threads spinning on shared memory took ${f(floor.spin)}; ` +
      `with Atomics.wait/notify, ${f(floor.wake)}. ` +
      (load.busy_other === null ? '' : `Other processes used ${(load.busy_other * 100).toFixed(0)}% of the machine's CPU meanwhile ` +
        `(load average ${load.loadavg.map((x) => x.toFixed(1)).join(' → ')}).`), '');
    const rows = caseRows(summary);
    if (cold) {
      const f = (n) => fmt(n, 1);
      rows.push(['cold start: runProgram() to first device listed', `${f(cold.wasm.median)} ms`, range(cold.wasm, f),
        `${f(cold.base.median)} ms`, range(cold.base, f), `${(cold.wasm.median / cold.base.median).toFixed(2)}× the time`,
        `(in C: libusb_init to list ${fmt(cold.inC.median, 2)} ms)`]);
    }
    out.push(table(['measurement', 'wasm (median)', 'min – max', 'JS baseline', 'min – max', 'wasm / baseline', 'added'], rows), '');
    out.push('### Goals (Node, this machine)', '');
    const goalRows = GOALS.map((g) => {
      const v = g.value(summary);
      return [g.what, g.target, v === undefined ? 'not measured' : g.show(v), v === undefined ? '–' : g.ok(v) ? 'met' : '**missed**'];
    });
    if (size) {
      goalRows.push(['gzip size of libusb\'s part (core + backend + runtime JS)', '≤ 60 KB', `${fmt(size.total / 1000, 1)} KB`,
        size.total <= 60000 ? 'met' : '**missed**']);
    }
    out.push(table(['goal', 'target', 'measured', ''], goalRows), '');
  }
  if (size) {
    out.push('## Size (gzip -9)', '');
    const k = (n) => `${fmt(n / 1000, 1)} KB`;
    out.push(table(['part', 'gzip', 'what'], [
      ['libusb wasm', k(size.libusbWasm), 'libusb core + wasm backend: a program using every libusb API function minus an empty one, both linked with the pkg-config flags at -O2'],
      ['library JS', k(size.libraryJs), 'what our --js-library adds to the Emscripten JS, measured the same way'],
      ['runtime JS', k(size.runtimeJs), 'transport host + program loader (ts/host, ts/runner/common/program.ts), bundled and minified'],
      ['**total**', `**${k(size.total)}**`, 'the three above'],
      ['sim transport JS', k(size.simTransportJs), 'the sim transport and device models, if shipped (not counted above)'],
      ['link flags', `${k(size.flagsWasm)} wasm + ${k(size.flagsJs)} JS`, 'Emscripten runtime the pkg-config flags pull in (pthreads, file system, NODEFS): empty program with them minus without; not counted above'],
    ]), '');
  }
  return out.join('\n');
}

/** Keep the hand-written notes (everything from the NOTES marker on). */
const NOTES_MARKER = '<!-- notes: written by hand, kept by bench/run.mjs -->';
function withNotes(generated) {
  let notes = `${NOTES_MARKER}\n## Notes\n`;
  if (fs.existsSync(RESULTS)) {
    const old = fs.readFileSync(RESULTS, 'utf8');
    const i = old.indexOf(NOTES_MARKER);
    if (i >= 0) notes = old.slice(i);
  }
  return `${generated}\n${notes.trimEnd()}\n`;
}

// ---- main ------------------------------------------------------------------

async function main() {
  const o = parseArgs(process.argv.slice(2));
  for (const f of ['dist/node.js', 'build/bench/datapath.js', 'build/bench/coldstart.js']) {
    if (!fs.existsSync(path.join(ROOT, f))) {
      console.error(`bench: ${f} is missing: run \`make bench\` (it builds first) or \`make\``);
      process.exit(1);
    }
  }
  const { runProgram } = await import(path.join(ROOT, 'dist/node.js'));
  const baselineScript = path.join(BUILD, 'baseline.mjs');
  await build({
    entryPoints: [path.join(ROOT, 'bench/js/baseline.ts')], outfile: baselineScript, bundle: true,
    platform: 'node', format: 'esm', target: 'node20', logLevel: 'warning',
  });

  const perTransport = [];
  for (const transport of o.transports) {
    console.log(bold(`==> ${transport} transport: ${o.runs} runs of ${o.cases.length} cases (${o.ms} ms each) plus cold start, wasm and JS baseline`));
    const runs = [];
    const cold = { wasm: [], base: [], inC: [] };
    const floor = { spin: [], wake: [] };
    const load = watchLoad();
    for (let i = 1; i <= o.runs; i++) {
      const tag = `[run ${i}/${o.runs}]`;
      const f = await measureFloor();
      floor.spin.push(f.spin_rt_us);
      floor.wake.push(f.wake_rt_us);
      console.log(`  ${tag} platform: spin round trip ${fmtUs(f.spin_rt_us)}, Atomics.wait/notify round trip ${fmtUs(f.wake_rt_us)}`);
      const c = await coldStart(runProgram, baselineScript, transport);
      cold.wasm.push(c.wasm.ms);
      cold.base.push(c.base.ms);
      cold.inC.push(c.wasm.init_to_list_ms);
      console.log(`  ${tag} cold start: wasm ${c.wasm.ms.toFixed(1)} ms (libusb_init to list ${c.wasm.init_to_list_ms.toFixed(2)} ms), JS ${c.base.ms.toFixed(1)} ms`);
      const run = { wasm: [], base: [] };
      const collect = (side, name) => (line) => {
        const r = parseLine(line);
        if (!r) return;
        run[side].push(r);
        console.log(`  ${tag} ${name.padEnd(4)} ${caseKey(r).padEnd(16)} ${describe(r)}`);
      };
      // each case in a fresh program and a fresh baseline worker: after the
      // 1 MiB cases, a heap full of large buffers slows every later case
      // down by a third or more, on both sides (bench/RESULTS.md, notes)
      for (const c of o.cases) {
        const args = ['--ms', String(o.ms), '--warmup', String(o.warmup), c];
        await runWasm(runProgram, 'datapath.js', args, transport, collect('wasm', 'wasm'));
        await runBaseline(baselineScript, { mode: 'datapath', transport: TRANSPORTS[transport].baseline, cases: [c], ms: o.ms, warmup: o.warmup },
          collect('base', 'JS'));
      }
      runs.push(run);
    }
    perTransport.push({
      transport, runs, summary: summarize(runs),
      cold: { wasm: stats(cold.wasm), base: stats(cold.base), inC: stats(cold.inC) },
      floor: { spin: stats(floor.spin), wake: stats(floor.wake) },
      load: load.stop(),
    });
  }

  let size;
  if (o.size) {
    console.log(bold('==> size of libusb\'s part of a program'));
    size = await (await import('./size.mjs')).measureSize({ log: (m) => console.log(m) });
  }

  const md = markdown(o, perTransport, size);
  console.log(`\n${md}`);
  fs.mkdirSync(BUILD, { recursive: true });
  fs.writeFileSync(path.join(BUILD, 'results.json'), JSON.stringify({ options: o, perTransport, size }, null, 1));
  if (o.write) {
    fs.writeFileSync(RESULTS, withNotes(md));
    console.log(bold(`==> wrote ${path.relative(process.cwd(), RESULTS)} (raw numbers: ${path.relative(process.cwd(), path.join(BUILD, 'results.json'))})`));
  }
  process.exit(0);
}

main().catch((e) => {
  console.error(`bench: ${e?.stack ?? e}`);
  process.exit(1);
});
