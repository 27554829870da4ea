// The conditions bench/run.mjs measures the data path in ("modes"), and
// how each runs its three sides: the wasm program, the JS baseline on the
// same platform object, and (webusb modes) the JS baseline on the lean
// reference object (bench/js/lean-usb.ts).
//
//   where      node: the program in a worker_thread (dist/node.js), its
//              host in another; chromium: both in Web Workers of a real
//              headless Chromium page (chromium.mjs)
//   transport  sim, or webusb over the simulated navigator.usb (SimUSB)
//   delivery   how SimUSB settles its promises: as microtasks, or one task
//              per completion as Chrome does (ts/sim/webusb/delivery.ts)
//   busy       one more thread spins for the whole run (contention): in
//              Node another process, in Chromium another Web Worker
//   syncTarget the most a synchronous transfer may add over the baseline
//              (issue 15's targets), µs
import { spawn } from 'node:child_process';
import path from 'node:path';
import { Worker } from 'node:worker_threads';

export const MODES = {
  sim: { where: 'node', transport: 'sim', delivery: 'microtask', busy: false, syncTarget: 4,
    what: 'the sim transport (simulated devices reached directly), Node' },
  webusb: { where: 'node', transport: 'webusb', delivery: 'microtask', busy: false, syncTarget: 4,
    what: 'the webusb transport over the simulated navigator.usb, results as microtasks, Node' },
  'webusb-task': { where: 'node', transport: 'webusb', delivery: 'task', busy: false, syncTarget: 6,
    what: 'the webusb transport over the simulated navigator.usb, each result delivered as a task (as Chrome does), Node' },
  'webusb-busy': { where: 'node', transport: 'webusb', delivery: 'microtask', busy: true, syncTarget: 12,
    what: 'as webusb, with one more thread spinning for the whole run (contention), Node' },
  'webusb-task-busy': { where: 'node', transport: 'webusb', delivery: 'task', busy: true, syncTarget: 12,
    what: 'as webusb-task, with one more thread spinning for the whole run, Node' },
  'chromium-task': { where: 'chromium', transport: 'webusb', delivery: 'task', busy: false, syncTarget: 15,
    what: 'headless Chromium: program and host in Web Workers, cross-origin isolated, over the simulated navigator.usb delivering results as tasks' },
  'chromium-task-busy': { where: 'chromium', transport: 'webusb', delivery: 'task', busy: true, syncTarget: 15,
    what: 'as chromium-task, with one more Web Worker spinning for the whole run' },
};

export const DEFAULT_MODES = ['sim', 'webusb', 'webusb-task', 'webusb-busy', 'chromium-task'];

/** The transport spec runProgram() gets in a mode. */
export function transportOf(mode) {
  const m = MODES[mode];
  if (m.transport === 'sim') return { kind: 'sim', devices: ['loopback'] };
  return { kind: 'webusb', devices: ['loopback'], protectedClasses: [], resultDelivery: m.delivery };
}

/**
 * Bundle bench/js/baseline.ts, the JS baseline's worker, into `outfile`
 * (as bench/run.mjs and bench/usbip.mjs run it). esbuild is imported here,
 * not at the top: report.mjs imports this module and has no use for it.
 */
export async function bundleBaseline(root, outfile) {
  const { build } = await import('esbuild');
  await build({
    entryPoints: [path.join(root, 'bench/js/baseline.ts')], outfile, bundle: true,
    platform: 'node', format: 'esm', target: 'node20', logLevel: 'warning',
  });
  return outfile;
}

/** The JS baselines of a mode: the same platform object, and the lean reference on webusb. */
export function baselinesOf(mode) {
  return MODES[mode].transport === 'sim' ? ['sim'] : ['webusb', 'lean'];
}

/**
 * The Node side of a mode. `build` is the directory of the compiled
 * benchmark programs, `baselineScript` the bundled bench/js/baseline.ts.
 * Each method runs one thing and resolves with what it printed.
 */
export async function nodeSide({ root, build, baselineScript }) {
  const { runProgram, createHost } = await import(path.join(root, 'dist/node.js'));
  let spinner;
  let warmHost;
  return {
    /** runProgram() of one benchmark program; `warm`: on one host made once (per transport). */
    async wasm({ program, args, transport, warm }) {
      const out = { lines: [], errors: [], code: -1 };
      const t0 = performance.now();
      if (warm && !warmHost) warmHost = createHost({ transport });
      const p = runProgram({
        program: path.join(build, path.basename(program)), args, ...(warm ? { host: warmHost } : { transport }),
        stdout: (line) => {
          out.firstLineMs ??= performance.now() - t0;
          (line.startsWith('error:') ? out.errors : out.lines).push(line);
        },
        stderr: (line) => out.errors.push(line),
      });
      out.code = await p.exited;
      return out;
    },
    /** The JS baseline in a fresh worker thread. */
    baseline({ target, delivery, cases, ms, warmup }) {
      return new Promise((resolve) => {
        const out = { lines: [], errors: [], code: -1 };
        const w = new Worker(baselineScript, { workerData: { mode: 'datapath', target, delivery, cases, ms, warmup } });
        w.on('message', (m) => {
          if (typeof m === 'string') out.lines.push(m);
          else {
            if (m.error) out.errors.push(m.error);
            out.code = m.error ? 1 : 0;
            void w.terminate();
          }
        });
        w.on('error', (e) => out.errors.push(String(e?.stack ?? e)));
        w.on('exit', () => resolve(out));
      });
    },
    /** Keep one more thread spinning (n = 1) or not (0): another process, so that this one's CPU time stays its own. */
    async setBusy(n) {
      if (n && !spinner) spinner = spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' });
      else if (!n && spinner) {
        const gone = new Promise((resolve) => spinner.once('exit', resolve));
        spinner.kill('SIGKILL');
        await gone;
        spinner = undefined;
      }
    },
    async close() {
      await this.setBusy(0);
      await warmHost?.close();
    },
  };
}
