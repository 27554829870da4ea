// Guest-side parts of the real-kernel tests, run in the agent's process
// (test/qemu/qemu.ts, Guest.call): libusb programs through the runner with
// the node transport (its default), and QEMU's monitor at the right moments.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { qmp } from './monitor.mjs';

const PROJECT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const { runProgram } = await import(path.join(PROJECT, 'dist/node.js'));

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Start a program of build/ (e.g. 'examples/listdevs') and collect its output; `options`: more runProgram options. */
function start(program, args = [], env = {}, options = {}) {
  const out = { stdout: '', stderr: '' };
  const t0 = performance.now();
  const p = runProgram({
    program: path.join(PROJECT, 'build', `${program}.js`),
    args,
    env,
    stdout: (s) => (out.stdout += s + '\n'),
    stderr: (s) => (out.stderr += s + '\n'),
    ...options,
  });
  const waitFor = async (stream, text, ms) => {
    const end = Date.now() + ms;
    while (!out[stream].includes(text)) {
      if (Date.now() > end) throw new Error(`no '${text}' on ${stream} within ${ms} ms:\n${out.stdout}\n${out.stderr}`);
      await sleep(20);
    }
  };
  /** The exit, or a kill after `ms` (then code is null: it hung). */
  const finish = async (ms) => {
    let timer;
    const code = await Promise.race([p.exited, new Promise((r) => (timer = setTimeout(() => r(null), ms)))]);
    clearTimeout(timer);
    if (code === null) await p.kill();
    return { code, ...out, ms: Math.round(performance.now() - t0) };
  };
  return { p, out, waitFor, finish };
}

/** Run a program to its end (killed after `timeoutMs`). */
export async function run(program, args = [], env = {}, timeoutMs = 60_000) {
  return start(program, args, env).finish(timeoutMs);
}

/**
 * Hold an IN transfer on a device and remove the device with device_del
 * while it is pending: the program must see LIBUSB_ERROR_NO_DEVICE and end.
 */
export async function removeDuringTransfer(vidpid, endpoint, qemuId) {
  const prog = start('tests/realdev', ['hold-transfer', vidpid, endpoint, '0']);
  await prog.waitFor('stdout', 'waiting', 60_000);
  await sleep(500); // the transfer reaches the kernel
  const t0 = performance.now();
  await qmp('device_del', { id: qemuId });
  const r = await prog.finish(30_000);
  return { ...r, msAfterDel: Math.round(performance.now() - t0) };
}

/** hotplugtest for VID:PID; a device added through the monitor, then removed, reaches it. */
export async function hotplug(vid, pid, device) {
  const prog = start('examples/hotplugtest', [vid, pid], { LIBUSB_DEBUG: '4' });
  await prog.waitFor('stderr', 'new hotplug cb', 60_000);
  await sleep(300);
  await qmp('device_add', device);
  await prog.waitFor('stdout', 'Device attached', 30_000);
  await sleep(500);
  await qmp('device_del', { id: device.id });
  return prog.finish(30_000);
}

/** Several programs in workers of this one process at once; the main thread keeps ticking. */
export async function concurrent(programs) {
  let ticks = 0;
  const ticker = setInterval(() => ticks++, 10);
  const t0 = performance.now();
  const results = await Promise.all(programs.map(([program, args]) => run(program, args)));
  clearInterval(ticker);
  return { results, ticks, ms: Math.round(performance.now() - t0) };
}

/**
 * Run a program with `--capture` into `dir`/capture.pcapng while the
 * kernel's own usbmon (its text interface, every bus) records the same run
 * into `dir`/usbmon.txt.
 */
export async function captureWithUsbmon(program, args, dir) {
  execFileSync('sh', ['-c', 'modprobe usbmon && { mountpoint -q /sys/kernel/debug || mount -t debugfs debugfs /sys/kernel/debug; }']);
  const text = path.join(dir, 'usbmon.txt');
  const fd = fs.openSync(text, 'w');
  const monitor = spawn('cat', ['/sys/kernel/debug/usb/usbmon/0u'], { stdio: ['ignore', fd, 'ignore'] });
  await sleep(500); // usbmon records from the moment it is opened
  const r = await start(program, args, {}, { capture: path.join(dir, 'capture.pcapng') }).finish(120_000);
  await sleep(500);
  monitor.kill();
  fs.closeSync(fd);
  return r;
}
