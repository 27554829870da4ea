#!/usr/bin/env node
// What capture costs on the data path: bench/c/datapath.c against the
// simulated loopback device, each case run with capture off, capture on
// (to a file, all data) and capture on with a 64-byte snap length,
// alternating, in a fresh program each time. Reports the medians and what
// capture adds per transfer, and writes them into bench/RESULTS.md between
// the capture markers (the rest of that file is bench/run.mjs's).
//
// With --before DIR (the dist/ of a build without the capture code, e.g. main's), that build
// runs too, capture off: what the capture code costs when capture is off.
//
//   node bench/capture.mjs [--runs 3] [--ms 400] [--warmup 100] [--cases control,sync:64,...] [--before DIR] [--no-write]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { caseKey as key, parseLine, stats, transfersPerOp } from './report.mjs';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const RESULTS = path.join(ROOT, 'bench/RESULTS.md');
const BEGIN = '<!-- capture:begin (bench/capture.mjs) -->';
const END = '<!-- capture:end -->';
const DEFAULT_CASES = ['control', 'sync:64', 'sync:4096', 'async:512:8', 'async:65536:8', 'in:512:32'];

/** The command line's options (usage and exit on a bad one). */
function options(args) {
  let v;
  try {
    ({ values: v } = parseArgs({
      args, strict: true, allowPositionals: false, options: {
        runs: { type: 'string', default: '3' }, ms: { type: 'string', default: '400' }, warmup: { type: 'string', default: '100' },
        cases: { type: 'string' }, before: { type: 'string' }, 'no-write': { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    usage(e.message);
  }
  if (v.help) usage();
  const o = {
    runs: Number(v.runs), ms: Number(v.ms), warmup: Number(v.warmup), cases: v.cases ? v.cases.split(',') : DEFAULT_CASES,
    before: v.before && path.resolve(v.before), write: !v['no-write'],
  };
  if (!(o.runs >= 1) || !(o.ms > 0) || !(o.warmup >= 0)) usage('--runs, --ms and --warmup take positive numbers');
  return o;
}

function usage(error) {
  const text = 'usage: node bench/capture.mjs [--runs N] [--ms N] [--warmup N] [--cases a,b] [--before DIR] [--no-write]';
  if (error) console.error(`bench/capture: ${error}`);
  console[error ? 'error' : 'log'](text);
  process.exit(error ? 2 : 0);
}

/** The configurations compared: what `capture` is given (undefined: off). "before" runs the --before build. */
const CONFIGS = {
  before: () => undefined,
  off: () => undefined,
  'on, all data': (file) => ({ file, maxBytes: Infinity }),
  'on, 64-byte snap': (file) => ({ file, maxBytes: Infinity, snapLength: 64 }),
};

/**
 * One program run: every case once, with one configuration. Returns each
 * case's result with the CPU time this process (program, host and device
 * threads) spent per transfer, from one result line to the next (warm-up
 * included, so the ops are scaled by it), and the capture's size. A
 * lead-in case, dropped, takes the program's start-up.
 */
async function runOnce(runProgram, o, config, dir) {
  if (config === 'before') runProgram = o.beforeRunProgram;
  const file = path.join(dir, 'capture.pcapng');
  const results = [];
  const errors = [];
  let cpu;
  const p = runProgram({
    program: path.join(ROOT, 'build/bench/datapath.js'), args: ['--ms', String(o.ms), '--warmup', String(o.warmup), 'control', ...o.cases],
    devices: ['loopback'], capture: CONFIGS[config](file),
    stdout: (line) => {
      const r = parseLine(line);
      if (!r) {
        if (line.startsWith('error:')) errors.push(line);
        return;
      }
      const used = process.cpuUsage(cpu);
      cpu = process.cpuUsage();
      const transfers = r.ops * transfersPerOp(r) * (1 + o.warmup / 1000 / r.seconds);
      results.push({ ...r, cpuUsPerTransfer: (used.user + used.system) / transfers });
    },
    stderr: (line) => errors.push(line),
  });
  const code = await p.exited;
  if (code !== 0) throw new Error(`datapath (${config}) exited with status ${code}:\n${errors.join('\n')}`);
  const bytes = fs.existsSync(file) ? fs.statSync(file).size : 0;
  fs.rmSync(file, { force: true });
  return { results: results.slice(1), bytes };
}

const median = (v) => stats(v).median;

// Not report.mjs's label(): for 1 MiB and more this says "1024 KiB" (report.mjs: "1 MiB"), so using
// it would change the section for such --cases.
function label(c) {
  const size = c.size >= 1024 ? `${c.size / 1024} KiB` : `${c.size} B`;
  if (c.bench === 'control') return 'sync control GET_DESCRIPTOR (18 B)';
  if (c.bench === 'sync') return `sync bulk OUT+IN ${size}`;
  if (c.bench === 'async') return `async bulk OUT+IN ${size}, ${c.inflight} in flight`;
  return `async bulk IN ${size}, ${c.inflight} in flight`;
}

const fmt = (n) => n.toLocaleString('en-US', { maximumFractionDigits: n >= 100 ? 0 : 1 });

async function main() {
  const o = options(process.argv.slice(2));
  if (!fs.existsSync(path.join(ROOT, 'build/bench/datapath.js'))) usage('build/bench/datapath.js is missing: run make build first');
  const { runProgram } = await import(path.join(ROOT, 'dist/node.js'));
  if (o.before) o.beforeRunProgram = (await import(path.join(o.before, 'node.js'))).runProgram;
  else delete CONFIGS.before;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lw-bench-capture-'));
  /** per configuration, per case: the runs' transfers/s and CPU µs per transfer; per configuration: capture bytes/s */
  const perS = Object.fromEntries(Object.keys(CONFIGS).map((c) => [c, new Map()]));
  const cpuUs = Object.fromEntries(Object.keys(CONFIGS).map((c) => [c, new Map()]));
  const rates = Object.fromEntries(Object.keys(CONFIGS).map((c) => [c, []]));
  const cases = new Map();
  try {
    for (let run = 1; run <= o.runs; run++) {
      for (const config of Object.keys(CONFIGS)) {
        process.stdout.write(`run ${run}/${o.runs}, capture ${config}... `);
        const t0 = performance.now();
        const { results, bytes } = await runOnce(runProgram, o, config, dir);
        for (const r of results) {
          cases.set(key(r), r);
          perS[config].set(key(r), [...(perS[config].get(key(r)) ?? []), r.per_s * transfersPerOp(r)]);
          cpuUs[config].set(key(r), [...(cpuUs[config].get(key(r)) ?? []), r.cpuUsPerTransfer]);
        }
        const seconds = results.reduce((n, r) => n + r.seconds, 0) + (o.warmup / 1000) * results.length;
        rates[config].push(bytes / seconds);
        console.log(`${((performance.now() - t0) / 1000).toFixed(1)} s${bytes ? `, ${fmt(bytes / 1e6)} MB captured` : ''}`);
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }

  const configs = Object.keys(CONFIGS);
  /** Compared with capture off: "off" with the build before, the others with "off". */
  const compared = configs.filter((c) => c !== 'off');
  const signed = (us) => `${us >= 0 ? '+' : ''}${us.toFixed(2)} µs`;
  const head = (what) => [
    `| ${what} | ${configs.map((c) => (c === 'before' ? 'before (no capture code)' : `capture ${c}`)).join(' | ')} | ${compared.map((c) => (c === 'before' ? 'off vs before' : `added, ${c}`)).join(' | ')} |`,
    `| --- | ${configs.map(() => '---').join(' | ')} | ${compared.map(() => '---').join(' | ')} |`,
  ];
  /** One row per case: the medians of `values` shown with `show`, and the difference in µs per transfer from `usOf`. */
  const table = (what, values, show, usOf) => [...head(what), ...[...cases.values()].map((c) => {
    const m = Object.fromEntries(configs.map((cfg) => [cfg, median(values[cfg].get(key(c)) ?? [NaN])]));
    const added = compared.map((cfg) => signed(cfg === 'before' ? usOf(m.off) - usOf(m.before) : usOf(m[cfg]) - usOf(m.off)));
    return `| ${label(c)} | ${configs.map((cfg) => show(m[cfg])).join(' | ')} | ${added.join(' | ')} |`;
  })];
  const cpu = os.cpus();
  const section = [
    BEGIN,
    '## Capture (bench/capture.mjs)',
    '',
    `- date: ${new Date().toISOString().replace('T', ' ').slice(0, 19)} UTC; machine: ${cpu[0]?.model.trim()}, ${cpu.length} cores, Node ${process.version}`,
    `- method: bench/c/datapath.c on the sim transport's loopback device, each case with capture off, on (a file, all data) and on with a 64-byte snap length, alternating, ${o.runs} runs, each a fresh program; ${o.ms} ms timed after ${o.warmup} ms warm-up; medians. Rates count transfers (a round trip is two). "added" is the extra time per transfer over capture off. Capture off, the host's taps are one null check per transfer (docs/capture.md).`,
    ...(o.before ? [`- "before": the same program on a build without the capture code (${o.before}), capture off; "off vs before" is what the capture code adds when capture is off.`] : []),
    `- capture written: ${configs.filter((c) => c.startsWith('on')).map((cfg) => `${cfg}: ${fmt(median(rates[cfg]) / 1e6)} MB/s`).join('; ')} (median over whole runs)`,
    `- CPU: the time this process's threads (program, transport host, simulated device) spent per transfer, user and system, over each case's warm-up and timed run: it moves less than the rates when other processes share the cores. Load average when done: ${os.loadavg().map((l) => l.toFixed(1)).join(', ')}.`,
    '',
    ...table('transfers per second', perS, (v) => `${fmt(v)}/s`, (v) => 1e6 / v),
    '',
    ...table('CPU per transfer', cpuUs, (v) => `${v.toFixed(2)} µs`, (v) => v),
    END,
  ].join('\n');
  console.log(`\n${section}`);
  if (o.write) {
    const old = fs.existsSync(RESULTS) ? fs.readFileSync(RESULTS, 'utf8') : '# Benchmark results\n';
    const at = old.indexOf(BEGIN);
    const updated = at >= 0 ? old.slice(0, at) + section + old.slice(old.indexOf(END, at) + END.length) : `${old.trimEnd()}\n\n${section}\n`;
    fs.writeFileSync(RESULTS, updated);
    console.log(`\nwrote the capture section of ${path.relative(process.cwd(), RESULTS)}`);
  }
}

await main();
