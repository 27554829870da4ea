// Statistics and the markdown of bench/RESULTS.md (bench/run.mjs): per
// mode, every case's wasm figure next to the JS baseline on the same
// platform object (and the lean reference on webusb), medians of the runs
// with min – max, "added" time per transfer, and issue 15's targets.
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { MODES } from './modes.mjs';

/** `key=value key=value` into an object (numbers where they parse). */
export function parseLine(line) {
  if (!line.startsWith('bench=')) return undefined;
  const r = {};
  for (const part of line.trim().split(/\s+/)) {
    const eq = part.indexOf('=');
    const v = part.slice(eq + 1);
    r[part.slice(0, eq)] = /^-?[\d.]+$/.test(v) ? Number(v) : v;
  }
  return r;
}

export const caseKey = (r) => (r.bench === 'control' ? 'control' : `${r.bench}:${r.size}${r.bench === 'sync' ? '' : `:${r.inflight}`}`);

export function stats(values) {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return { median: NaN, min: NaN, max: NaN, n: 0 };
  const mid = v.length >> 1;
  return { median: v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2, min: v[0], max: v[v.length - 1], n: v.length };
}

/** Transfers per op: a round trip is two. */
export const transfersPerOp = (c) => (c.bench === 'sync' || c.bench === 'async' ? 2 : 1);

/** Per case: the median/min/max of each side (wasm, base, lean). */
export function summarize(runs) {
  const byCase = new Map();
  for (const run of runs) {
    for (const side of Object.keys(run)) {
      for (const r of run[side]) {
        const key = caseKey(r);
        if (!byCase.has(key)) byCase.set(key, { key, bench: r.bench, size: r.size, inflight: r.inflight, sides: {} });
        (byCase.get(key).sides[side] ??= []).push(r);
      }
    }
  }
  return [...byCase.values()].map((c) => {
    const of = (side) => c.sides[side] && {
      perS: stats(c.sides[side].map((r) => r.per_s)), us: stats(c.sides[side].map((r) => r.us)), MBps: stats(c.sides[side].map((r) => r.MBps)),
      cpuUs: stats(c.sides[side].map((r) => r.cpu_us)),
    };
    const wasm = of('wasm');
    const base = of('base');
    const lean = of('lean');
    return {
      ...c, wasm, base, lean,
      ratio: wasm && base ? wasm.perS.median / base.perS.median : NaN,
      added: wasm && base ? (wasm.us.median - base.us.median) / transfersPerOp(c) : NaN,
      // CPU time per op where both sides measured it (Node: it hardly moves with other load), else wall time
      overLean: !base || !lean ? NaN : base.cpuUs.n && lean.cpuUs.n ? base.cpuUs.median / lean.cpuUs.median : lean.perS.median / base.perS.median,
      overLeanBy: base?.cpuUs.n && lean?.cpuUs.n ? 'CPU time' : 'wall time',
    };
  });
}

export function fmt(n, digits = 0) {
  if (!Number.isFinite(n)) return '–';
  if (n >= 100) digits = 0;
  else if (n >= 10 && digits > 1) digits = 1;
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

const signed = (n) => (Number.isFinite(n) ? `${n >= 0 ? '+' : ''}${n.toFixed(2)} µs` : '–');
const range = (s, f) => (s && s.n ? `${f(s.min)} – ${f(s.max)}` : '–');

function label(c) {
  const size = c.size >= 1048576 ? `${c.size / 1048576} MiB` : c.size >= 1024 ? `${c.size / 1024} KiB` : `${c.size} B`;
  if (c.bench === 'control') return 'sync control GET_DESCRIPTOR (18 B)';
  if (c.bench === 'sync') return `sync bulk OUT+IN ${size}`;
  if (c.bench === 'async') return `async bulk OUT+IN ${size}, ${c.inflight} in flight`;
  return `async bulk IN ${size}, ${c.inflight} in flight`;
}

/** The figure a case is read by: µs per transfer (control), MB/s (4 KiB and more), else ops/s. */
function figure(c, side) {
  const s = c[side];
  if (!s) return { main: '–', range: '–' };
  if (c.bench === 'control') return { main: `${fmt(s.us.median, 2)} µs`, range: range(s.us, (n) => fmt(n, 2)) };
  if (c.size >= 4096) return { main: `${fmt(s.MBps.median)} MB/s`, range: range(s.MBps, (n) => fmt(n)) };
  return { main: `${fmt(s.perS.median)}/s`, range: range(s.perS, (n) => fmt(n)) };
}

export function table(header, rows) {
  const line = (cells) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** Issue 15's targets for one mode: [what, target, measured, met]. */
export function targetsOf(mode, summary) {
  const m = MODES[mode];
  const rows = [];
  const find = (key) => summary.find((c) => c.key === key);
  const syncCases = ['control', 'sync:64', 'sync:512'].map(find).filter(Boolean);
  if (syncCases.length) {
    const worst = syncCases.reduce((a, b) => (b.added > a.added ? b : a));
    rows.push(['added per synchronous transfer (control, 64 B, 512 B)', `≤ ${m.syncTarget} µs`,
      `${signed(worst.added)} (worst: ${worst.key}; ${syncCases.map((c) => `${c.key} ${signed(c.added)}`).join(', ')})`, worst.added <= m.syncTarget]);
  }
  for (const key of ['async:512:8', 'in:512:32']) {
    const c = find(key);
    if (c) rows.push([`${label(c)}: rate over the baseline's`, '≥ 0.5×', `${c.ratio.toFixed(2)}×`, c.ratio >= 0.5]);
  }
  const big = summary.filter((c) => (c.bench === 'sync' || c.bench === 'async') && c.size >= 65536);
  if (big.length) {
    const worst = big.reduce((a, b) => (b.ratio < a.ratio ? b : a));
    rows.push(['64 KiB and 1 MiB, sync and async: bytes/s over the baseline\'s', '≥ 0.8×',
      `${worst.ratio.toFixed(2)}× (worst: ${worst.key}; ${big.map((c) => `${c.key} ${c.ratio.toFixed(2)}×`).join(', ')})`, worst.ratio >= 0.8]);
  }
  const leanCases = summary.filter((c) => Number.isFinite(c.overLean));
  if (leanCases.length) {
    const worst = leanCases.reduce((a, b) => (b.overLean > a.overLean ? b : a));
    rows.push([`the simulated navigator.usb's JS baseline against the lean object, every case (${worst.overLeanBy} per op)`, '≤ 1.5× the time',
      `${worst.overLean.toFixed(2)}× (worst: ${worst.key}; ${leanCases.map((c) => `${c.key} ${c.overLean.toFixed(2)}×`).join(', ')})`, worst.overLean <= 1.5]);
  }
  return rows;
}

const met = (ok) => (ok ? 'met' : '**missed**');

function machine() {
  const cpus = os.cpus();
  let emcc = '?';
  try {
    emcc = execFileSync('emcc', ['--version'], { encoding: 'utf8' }).split('\n')[0].replace(/^emcc \(.*?\)\s*/, '').trim() || '?';
  } catch { /* not installed */ }
  return `${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${cpus.length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ` +
    `${os.type()} ${os.release()}, Node ${process.version}, Emscripten ${emcc}`;
}

function commit(root) {
  try {
    const id = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: root, encoding: 'utf8' }).trim();
    return dirty ? `${id} (with uncommitted changes)` : id;
  } catch {
    return 'unknown';
  }
}

export function loadText(load) {
  if (!load) return 'not measured';
  const other = load.busy_other === null ? 'unknown (no /proc/stat)' : `${(load.busy_other * 100).toFixed(0)}% of the machine's CPU`;
  return `other processes used ${other}; load average ${load.loadavg.map((x) => x.toFixed(1)).join(' → ')}`;
}

function floorText(floor) {
  const f = (s) => (Number.isFinite(s.median) ? `${s.median.toFixed(2)} µs (${fmt(s.min, 2)} – ${fmt(s.max, 2)})` : 'did not complete');
  return `a round trip between two threads spinning on shared memory took ${f(floor.spin)}; with Atomics.wait/notify, ${f(floor.wake)}`;
}

/** The markdown of one mode. */
function modeSection(o, r) {
  const m = MODES[r.mode];
  const out = [`## ${r.mode}: ${m.what}`, ''];
  out.push(`- load during this mode (bench/platform.mjs): ${loadText(r.load)}` +
    ` (the benchmark's own processes${m.where === 'chromium' ? ', Chromium' : ''}${m.busy ? ' and the busy one' : ''} not counted)`);
  out.push(`- platform floor (Node threads, measured in each run): ${floorText(r.floor)}`);
  if (r.browser) out.push(`- browser: ${r.browser}`);
  out.push('');
  const lean = r.summary.some((c) => c.lean);
  const rows = r.summary.map((c) => {
    const w = figure(c, 'wasm');
    const b = figure(c, 'base');
    const cells = [label(c), w.main, w.range, b.main, b.range, `${fmt(c.ratio, 2)}×`, signed(c.added)];
    if (lean) {
      const l = figure(c, 'lean');
      cells.push(l.main, `${fmt(c.overLean, 2)}×`);
    }
    return cells;
  });
  const header = ['case', 'wasm (median)', 'min – max', 'JS baseline', 'min – max', 'wasm / baseline', 'added per transfer'];
  if (lean) header.push('lean object (JS)', 'baseline / lean, per op');
  out.push(table(header, rows), '');
  out.push('Targets (issue 15):', '');
  out.push(table(['target', 'wanted', 'measured', ''], targetsOf(r.mode, r.summary).map(([a, b, c, ok]) => [a, b, c, met(ok)])), '');
  return out.join('\n');
}

function coldSection(cold) {
  const out = ['## Cold start', ''];
  out.push('Time to the first device listed, medians of the runs with min – max (ms).', '');
  const rows = [];
  const f = (n) => fmt(n, 1);
  for (const row of cold.rows) {
    const s = stats(row.values);
    rows.push([row.what, s.n ? `${f(s.median)} ms` : '–', range(s, f), row.target ?? '', row.target ? met(s.median <= row.targetMs) : '']);
  }
  out.push(table(['measurement', 'median', 'min – max', 'target', ''], rows), '');
  if (cold.phases?.length) {
    out.push('Where the time of `runProgram()` with a private host goes (medians, ms from runProgram()):', '');
    out.push(table(['phase', 'median', 'min – max'], cold.phases.map((p) => {
      const s = stats(p.values);
      return [p.what, f(s.median), range(s, f)];
    })), '');
  }
  out.push(`Load meanwhile: ${loadText(cold.load)}${cold.chromiumLoad ? ` (Node's rounds, before Chromium started); Chromium's rounds: ${loadText(cold.chromiumLoad)}` : ''}.`, '');
  return out.join('\n');
}

function sizeSection(size) {
  const k = (n) => `${fmt(n / 1000, 1)} KB`;
  return ['## Size (gzip -9)', '', table(['part', 'gzip', 'what'], [
    ['libusb wasm', k(size.libusbWasm), 'libusb core + wasm backend: a program using every libusb API function minus an empty one, both linked with the pkg-config flags at -O2'],
    ['library JS', k(size.libraryJs), 'what our --js-library adds to the Emscripten JS, measured the same way'],
    ['runtime JS', k(size.runtimeJs), 'transport host + program loader (ts/host, ts/runner/common/program.ts), bundled and minified'],
    ['**total**', `**${k(size.total)}**`, 'the three above (target ≤ 60 KB)'],
    ['sim transport JS', k(size.simTransportJs), 'the sim transport and device models, if shipped (not counted above)'],
    ['link flags', `${k(size.flagsWasm)} wasm + ${k(size.flagsJs)} JS`, 'Emscripten runtime the pkg-config flags pull in (pthreads, file system, NODEFS): empty program with them minus without; not counted above'],
  ]), ''].join('\n');
}

function idleSection(idle) {
  return ['## Idle cost (bench/idle.mjs)', '',
    'CPU time of the whole process while bench/c/idle.c waits with nothing happening:', '',
    table(['transport', 'waiting in', 'CPU', 'share of one core'], idle.map((r) => [r.transport, r.mode === 'events' ? 'libusb_handle_events (no transfer)' : 'a sync bulk IN that times out',
      `${fmt(r.cpuMs, 1)} ms in ${fmt(r.wallMs)} ms`, `${r.percent.toFixed(2)}%`])), ''].join('\n');
}

/** The generated part of bench/RESULTS.md. */
export function markdown({ root, options, modes, cold, size, idle, load }) {
  const out = ['# Benchmark results', ''];
  out.push('Generated by `make bench` (bench/run.mjs); the notes at the end are written by hand.', '');
  out.push(`- date: ${new Date().toISOString().replace('T', ' ').replace(/\..*/, ' UTC')}`);
  out.push(`- machine: ${machine()}`);
  out.push(`- commit: ${commit(root)}`);
  out.push(`- load over the whole run: ${loadText(load)}. **A machine shared with other work gives slower, noisier figures: read each mode's load line.**`);
  out.push(`- method: ${options.runs} runs per mode; in each run every case runs in a fresh program, then the same loop in JS in a fresh worker on the same platform object ` +
    '(and, on webusb, on the lean object of bench/js/lean-usb.ts); ' +
    `each case ${options.ms} ms timed after ${options.warmup} ms warm-up; median of the runs, with min – max. MB/s counts the payload of every transfer, both directions (MB = 10^6 bytes). ` +
    '"added" is (wasm time − baseline time) per transfer (a round trip is two). "baseline / lean" is how much more the simulated navigator.usb costs than the lean object per op, in JS alone: CPU time in Node (robust to other load), wall time in Chromium.');
  out.push('');
  for (const r of modes) out.push(modeSection(options, r));
  if (cold) out.push(coldSection(cold));
  if (idle) out.push(idleSection(idle));
  if (size) out.push(sizeSection(size));
  return out.join('\n');
}
