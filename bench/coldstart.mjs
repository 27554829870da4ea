// Cold start (issue 15, item 2): from process start, or from runProgram(),
// to the first device a program lists.
//
//   cli          `libusb-wasm run --devices loopback listdevs.js` (dist/cli.js)
//                as a new process, from spawn to its first device line
//   bare node    a new `node` process that lists the same simulated device
//                through the JS API in-process (dist/sim.js): the floor a
//                process start sets
//   runProgram   bench/c/coldstart.c through runProgram() in this process,
//                with a private host (a new host worker each time), and
//                with a host made once (createHost(), then many programs;
//                made and used once before the rounds: warmUp())
import { spawn } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const DEVICE_LINE = /^[0-9a-f]{4}:[0-9a-f]{4}/m;

/** Spawn a process; resolves with ms from spawn to its first line matching DEVICE_LINE. */
function firstDeviceLine(args, { cwd, timeoutMs = 30_000 }) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let ms;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${args.join(' ')}: no device line in ${timeoutMs / 1000} s\n${out}${err}`));
    }, timeoutMs);
    child.stdout.on('data', (d) => {
      out += d;
      if (ms === undefined && DEVICE_LINE.test(out)) ms = performance.now() - t0;
    });
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (ms !== undefined && code === 0) resolve(ms);
      else reject(new Error(`${args.join(' ')} exited with status ${code} ${ms === undefined ? 'before listing a device' : ''}\n${out}${err}`));
    });
  });
}

/** What a bare process does to list the simulated loopback device through the JS API, in-process. */
function bareScript(root) {
  const sim = pathToFileURL(path.join(root, 'dist/sim.js')).href;
  return `const s = await import(${JSON.stringify(sim)});
const t = new s.SimTransport(new s.SimBus(), { devices: [new s.LoopbackDevice()] });
for (const d of await t.getDevices()) {
  const raw = d.descriptors?.device ?? (await d.transfer({ type: 0, endpoint: 0x80, setup: { bmRequestType: 0x80, bRequest: 6, wValue: 0x100, wIndex: 0, wLength: 18 }, length: 18, zeroLengthPacket: false, timeout: 1000 })).data;
  const hex = (n) => n.toString(16).padStart(4, '0');
  console.log(hex(raw[8] | raw[9] << 8) + ':' + hex(raw[10] | raw[11] << 8));
}`;
}

/**
 * Make the warm hosts (Node's and Chromium's, whichever is given) and run one program
 * on each, untimed: the "host already running" rows then measure what a
 * web IDE's second and later runs cost. Then give the worker each host
 * boots ahead for the next program time to boot, as between runs in an IDE.
 */
export async function warmUp({ side, chromium, transport, browserTransport }) {
  if (side) await side.wasm({ program: 'coldstart.js', args: [], transport, warm: true });
  if (chromium) await chromium.wasm({ program: 'coldstart.js', args: [], transport: browserTransport, warm: true });
  await new Promise((resolve) => setTimeout(resolve, 500));
}

/**
 * One round of the Node cold-start measurements. `side` is the Node side of
 * modes.mjs (its wasm() runs coldstart.c). Returns { name: ms }.
 */
export async function nodeColdRound({ root, side, transport }) {
  const r = {};
  r.cli = await firstDeviceLine([path.join(root, 'dist/cli.js'), 'run', '--devices', 'loopback', path.join(root, 'build/examples/listdevs.js')], { cwd: root });
  r.bare = await firstDeviceLine(['--input-type=module', '-e', bareScript(root)], { cwd: root });
  r.privateHost = await firstLine(side.wasm({ program: 'coldstart.js', args: [], transport }), 'coldstart.js, private host');
  r.warmHost = await firstLine(side.wasm({ program: 'coldstart.js', args: [], transport, warm: true }), 'coldstart.js, warm host');
  return r;
}

/**
 * One round of the Chromium cold-start measurements, `chromium` being the
 * browser page. Run after every Node round, not between them: a private
 * host's workers in Chromium keep a core busy for a while after their
 * program's first line (compiling, collecting), which a Node process
 * started meanwhile would pay for.
 */
export async function chromiumColdRound({ chromium, browserTransport }) {
  return {
    chromiumPrivate: await firstLine(chromium.wasm({ program: 'coldstart.js', args: [], transport: browserTransport }), 'Chromium, private host'),
    chromiumWarm: await firstLine(chromium.wasm({ program: 'coldstart.js', args: [], transport: browserTransport, warm: true }), 'Chromium, warm host'),
  };
}

async function firstLine(run, what) {
  const out = await run;
  if (out.code !== 0 || !out.lines.length) throw new Error(`${what}: exited with status ${out.code}\n${out.errors.join('\n')}`);
  return out.firstLineMs;
}

/** The rows of RESULTS.md's cold-start table, from the rounds. */
export function coldStartRows(rounds) {
  const col = (k) => rounds.map((r) => r[k]).filter((v) => v !== undefined);
  const rows = [
    { what: '`libusb-wasm run --devices loopback listdevs.js`: process start to first device line', values: col('cli'), target: '≤ 90 ms', targetMs: 90 },
    { what: 'bare `node` listing the same device through the JS API in-process (the floor)', values: col('bare') },
    { what: 'runProgram() to first device line, private host (Node)', values: col('privateHost') },
    { what: 'runProgram() to first device line, host already running (Node)', values: col('warmHost'), target: '≤ 20 ms', targetMs: 20 },
  ];
  if (col('chromiumPrivate').length) {
    rows.push({ what: 'runProgram() to first device line, private host (Chromium)', values: col('chromiumPrivate') });
    rows.push({ what: 'runProgram() to first device line, host already running (Chromium)', values: col('chromiumWarm'), target: '≤ 20 ms', targetMs: 20 });
  }
  return rows;
}
