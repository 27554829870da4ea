#!/usr/bin/env node
// The benchmark harness behind `make bench`.
//
// Per mode (modes.mjs: where the program runs, which transport, how the
// simulated navigator.usb delivers results, whether another thread keeps a
// core busy) and per run, every case runs in a fresh program
// (bench/c/datapath.c), then the same loop in JS in a fresh worker on the
// same platform object (bench/js/loops.ts), and on webusb once more on the
// lean reference object (bench/js/lean-usb.ts). The cold start
// (coldstart.mjs): Node's before the modes, before Chromium opens;
// Chromium's after its modes. Then the idle cost (idle.mjs) and the size
// (size.mjs). It
// reports medians of the runs with min – max, the machine's load during
// each mode, issue 15's targets, and writes bench/RESULTS.md (keeping its
// hand-written notes).
//
//   node bench/run.mjs [--runs 5] [--ms 400] [--warmup 100] [--modes sim,webusb,...]
//                      [--cases control,sync:64,...] [--cold-runs 5]
//                      [--no-cold] [--no-idle] [--no-size] [--no-write]
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { writeKeepingNotes } from './results-file.mjs';
import { measureFloor, watchLoad } from './platform.mjs';
import { DEFAULT_MODES, MODES, baselinesOf, bundleBaseline, nodeSide, transportOf } from './modes.mjs';
import { caseKey, fmt, loadText, markdown, parseLine, stats, summarize, targetsOf } from './report.mjs';
import { chromiumColdRound, coldStartRows, nodeColdRound, warmUp } from './coldstart.mjs';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const BUILD = path.join(ROOT, 'build/bench');
const RESULTS = path.join(ROOT, 'bench/RESULTS.md');

const DEFAULT_CASES = [
  'control',
  'sync:64', 'sync:512', 'sync:4096', 'sync:65536', 'sync:1048576',
  'async:64:8', 'async:512:8', 'async:4096:8', 'async:65536:8', 'async:1048576:8',
  'in:512:32',
];

const USAGE = 'usage: node bench/run.mjs [--runs N] [--ms N] [--warmup N] [--modes a,b] [--cases a,b] [--cold-runs N] ' +
  `[--no-cold] [--no-idle] [--no-size] [--no-write]\nmodes: ${Object.keys(MODES).join(', ')} (default: ${DEFAULT_MODES.join(',')})`;

function options(argv) {
  let v;
  try {
    ({ values: v } = parseArgs({
      args: argv,
      options: {
        runs: { type: 'string', default: '5' }, ms: { type: 'string', default: '400' }, warmup: { type: 'string', default: '100' },
        modes: { type: 'string', default: DEFAULT_MODES.join(',') }, cases: { type: 'string', default: DEFAULT_CASES.join(',') },
        'cold-runs': { type: 'string' }, 'no-cold': { type: 'boolean' }, 'no-idle': { type: 'boolean' }, 'no-size': { type: 'boolean' },
        'no-write': { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    usage(e.message);
  }
  if (v.help) usage();
  const o = {
    runs: Number(v.runs), ms: Number(v.ms), warmup: Number(v.warmup), modes: v.modes.split(','), cases: v.cases.split(','),
    coldRuns: Number(v['cold-runs'] ?? v.runs), cold: !v['no-cold'], idle: !v['no-idle'], size: !v['no-size'], write: !v['no-write'],
  };
  if (!(o.runs >= 1) || !(o.ms > 0) || !(o.warmup >= 0) || !(o.coldRuns >= 1)) usage('--runs, --ms, --warmup and --cold-runs take positive numbers');
  for (const m of o.modes) if (!MODES[m]) usage(`unknown mode '${m}'`);
  return o;
}

function usage(error) {
  if (error) {
    console.error(`bench: ${error}\n${USAGE}`);
    process.exit(2);
  }
  console.log(USAGE);
  process.exit(0);
}

const bold = (s) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);

function describe(r) {
  if (r.bench === 'control') return `${r.us.toFixed(2)} µs/transfer`;
  if (r.bench === 'in') return `${fmt(r.per_s)} transfers/s, ${fmt(r.MBps)} MB/s`;
  return `${fmt(r.per_s)} round trips/s, ${fmt(r.MBps)} MB/s`;
}

/** The one bench line a run printed, or an error that says what went wrong. */
function oneResult(out, what) {
  const results = out.lines.map(parseLine).filter(Boolean);
  if (out.code !== 0 || out.errors.length || results.length !== 1) {
    throw new Error(`${what}: status ${out.code}, ${results.length} result lines\n${[...out.lines, ...out.errors].join('\n')}`);
  }
  return results[0];
}

/** Every run of one mode. */
async function runMode(o, mode, platform) {
  const m = MODES[mode];
  console.log(bold(`==> ${mode}: ${m.what}`));
  console.log(`    ${o.runs} runs of ${o.cases.length} cases (${o.ms} ms each), wasm then JS baseline${baselinesOf(mode).length > 1 ? ' then the lean object' : ''}`);
  const load = watchLoad();
  const floor = { spin: [], wake: [] };
  const runs = [];
  await platform.setBusy(m.busy ? 1 : 0);
  try {
    for (let i = 1; i <= o.runs; i++) {
      const tag = `[${mode} ${i}/${o.runs}]`;
      const f = await measureFloor();
      floor.spin.push(f.spin_rt_us);
      floor.wake.push(f.wake_rt_us);
      const run = { wasm: [], base: [], lean: [] };
      for (const c of o.cases) {
        const show = (side, r) => console.log(`  ${tag} ${side.padEnd(4)} ${caseKey(r).padEnd(16)} ${describe(r)}${r.cpu_us ? ` (CPU ${r.cpu_us.toFixed(2)} µs/op)` : ''}`);
        const w = oneResult(await platform.wasm({ program: 'datapath.js', args: ['--ms', String(o.ms), '--warmup', String(o.warmup), c], transport: transportOf(mode) }), `${mode} ${c} (wasm)`);
        run.wasm.push(w);
        show('wasm', w);
        for (const [side, target] of baselinesOf(mode).map((t, k) => [k ? 'lean' : 'base', t])) {
          const out = await platform.baseline({ target, delivery: m.delivery, cases: [c], ms: o.ms, warmup: o.warmup });
          const r = oneResult(out, `${mode} ${c} (JS on ${target})`);
          run[side].push(r);
          show(side === 'base' ? 'JS' : 'lean', r);
        }
      }
      runs.push(run);
    }
  } finally {
    await platform.setBusy(0);
  }
  const summary = summarize(runs);
  const result = { mode, runs, summary, load: load.stop(), floor: { spin: stats(floor.spin), wake: stats(floor.wake) }, browser: platform.version };
  console.log(`    load: ${loadText(result.load)}`);
  for (const [what, wanted, measured, ok] of targetsOf(mode, summary)) console.log(`    ${ok ? 'met   ' : 'MISSED'} ${what} ${wanted}: ${measured}`);
  return result;
}

async function main() {
  const o = options(process.argv.slice(2));
  for (const f of ['dist/node.js', 'dist/cli.js', 'build/bench/datapath.js', 'build/bench/coldstart.js', 'build/examples/listdevs.js']) {
    if (!fs.existsSync(path.join(ROOT, f))) {
      console.error(`bench: ${f} is missing: run \`make bench\` (it builds first) or \`make\``);
      process.exit(1);
    }
  }
  const baselineScript = await bundleBaseline(ROOT, path.join(BUILD, 'baseline.mjs'));
  const totalLoad = watchLoad();
  const side = await nodeSide({ root: ROOT, build: BUILD, baselineScript });
  const wantsChromium = o.modes.some((m) => MODES[m].where === 'chromium');
  let chromium;
  const results = { root: ROOT, options: o, modes: [] };
  try {
    // Node's cold start first, before Chromium is open: a browser beside
    // it slowed every process start by a third here, which a user running
    // `libusb-wasm run` does not pay
    const cold = o.cold ? await nodeColdStart(o, side) : undefined;
    if (wantsChromium) {
      console.log(bold('==> starting headless Chromium'));
      chromium = await (await import('./chromium.mjs')).openChromium({ log: (s) => console.log(s) });
    }
    for (const mode of o.modes) results.modes.push(await runMode(o, mode, MODES[mode].where === 'chromium' ? chromium : side));
    if (cold && chromium) await chromiumColdStart(o, chromium, cold);
    results.cold = cold;
    // (before Chromium closes: its renderers, orphaned then, would count as another's load)
    results.load = totalLoad.stop();
  } finally {
    await chromium?.close();
    await side.close();
  }

  if (o.idle) {
    console.log(bold('==> idle cost'));
    const { measureIdle } = await import('./idle.mjs');
    results.idle = [];
    for (const transport of ['sim', 'webusb']) {
      for (const mode of ['events', 'transfer']) {
        const r = await measureIdle({ transport, mode, ms: 3000 });
        results.idle.push(r);
        console.log(`  ${transport} ${mode}: ${r.cpuMs.toFixed(1)} ms CPU in ${r.wallMs.toFixed(0)} ms (${r.percent.toFixed(2)}%)`);
      }
    }
  }
  if (o.size) {
    console.log(bold('==> size of libusb\'s part of a program'));
    results.size = await (await import('./size.mjs')).measureSize({ log: (m) => console.log(m) });
  }

  const md = markdown(results);
  console.log(`\n${md}`);
  fs.mkdirSync(BUILD, { recursive: true });
  fs.writeFileSync(path.join(BUILD, 'results.json'), JSON.stringify(results, null, 1));
  if (o.write) {
    writeKeepingNotes(RESULTS, md, NOTES_MARKER);
    console.log(bold(`==> wrote ${path.relative(process.cwd(), RESULTS)} (raw numbers: ${path.relative(process.cwd(), path.join(BUILD, 'results.json'))})`));
  }
  process.exit(0);
}

const NOTES_MARKER = '<!-- notes: written by hand, kept by bench/run.mjs -->';

main().catch((e) => {
  console.error(`bench: ${e?.stack ?? e}`);
  process.exit(1);
});

const formatRound = (r, prefix = '') => Object.entries(r).filter(([k]) => k.startsWith(prefix))
  .map(([k, v]) => `${k} ${v.toFixed(1)} ms`).join(', ');

/** The Node rows of the cold start: { rows, rounds, load }. */
async function nodeColdStart(o, side) {
  console.log(bold(`==> cold start, Node: ${o.coldRuns} rounds`));
  const load = watchLoad();
  await warmUp({ side, transport: transportOf('sim') });
  const rounds = [];
  for (let i = 1; i <= o.coldRuns; i++) {
    rounds.push(await nodeColdRound({ root: ROOT, side, transport: transportOf('sim') }));
    console.log(`  [cold ${i}/${o.coldRuns}] ${formatRound(rounds.at(-1))}`);
  }
  return { rows: coldStartRows(rounds), rounds, load: load.stop() };
}

/** Add Chromium's rounds (after its modes, in the browser already open). */
async function chromiumColdStart(o, chromium, cold) {
  console.log(bold(`==> cold start, Chromium: ${o.coldRuns} rounds`));
  const load = watchLoad();
  const browserTransport = transportOf('chromium-task');
  await warmUp({ chromium, browserTransport });
  for (let i = 1; i <= o.coldRuns; i++) {
    Object.assign(cold.rounds[i - 1], await chromiumColdRound({ chromium, browserTransport }));
    console.log(`  [cold, Chromium ${i}/${o.coldRuns}] ${formatRound(cold.rounds[i - 1], 'chromium')}`);
  }
  cold.rows = coldStartRows(cold.rounds);
  cold.chromiumLoad = load.stop();
}
