// Chromium inside the test guest (the host's /usr/bin/chromium, seen over
// 9p), driven by playwright-core from the agent's process, with a page of
// ours on http://localhost:8080 that runs libusb programs on Chromium's own
// navigator.usb (guest/page.html).
//
// Devices are granted without a prompt by the enterprise policy
// WebUsbAllowDevicesForUrls. Chromium reads it from
// /etc/chromium/policies/managed/ (the --policy switch is ignored); the
// guest's /etc is the host's, read-only, so a tmpfs copy of /etc/chromium is
// bound over it. Chromium runs as root: --no-sandbox, HOME on a tmpfs, and
// --disable-dev-shm-usage (the guest's /dev/shm is small).
//
//   await start({ grants: [{ vendorId: 0x1209, productId: 0x000a }] });
//   const id = await evaluate((a) => window.start(...a), ['examples/listdevs', []]);
//   await stop();
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const PROJECT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const { startServer } = await import(path.join(PROJECT, 'scripts/serve.mjs'));

export const CHROMIUM = '/usr/bin/chromium';
export const ORIGIN = 'http://localhost:8080';
const PAGE = `${ORIGIN}/test/qemu/guest/page.html`;
const POLICY_DIR = '/etc/chromium';
const POLICY_COPY = '/run/lw/etc-chromium';
const HOME = '/tmp/lw-chromium-home';

let browser;
let page;
let server;
const consoleLines = [];

/**
 * Grant devices to ORIGIN by policy, serve the project, launch Chromium and
 * open the page. `grants`: [{ vendorId, productId }]. Resolves with the time
 * each step took (ms).
 */
export async function start({ grants, timeoutMs = 240_000 }) {
  if (browser) throw new Error('Chromium is running already: stop() first');
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing on the host: run scripts/ensure-chromium.sh (make test does)`);
  const t0 = performance.now();
  const lap = () => Math.round(performance.now() - t0);
  writePolicy(grants);
  fs.mkdirSync(HOME, { recursive: true });
  ({ server } = await startServer({ port: 8080, host: '127.0.0.1', allow: ['/test/qemu/guest/'] }));
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: timeoutMs,
    env: { ...process.env, HOME },
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
      '--disable-component-update', '--no-first-run'],
  });
  const launchedMs = lap();
  page = await browser.newPage();
  page.setDefaultTimeout(timeoutMs);
  // the page asks the guest to act (unbind a gadget...): a function of a guest-side module, in this process
  await page.exposeFunction('lwGuest', async (module, fn, args) => (await import(module))[fn](...args));
  page.on('console', (m) => consoleLines.push(`[${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => consoleLines.push(`[pageerror] ${e.message}`));
  await page.goto(PAGE);
  await page.waitForFunction(() => window.ready === true);
  return { launchedMs, pageReadyMs: lap(), version: browser.version() };
}

/** Close Chromium and the server. */
export async function stop() {
  await browser?.close();
  browser = undefined;
  page = undefined;
  await new Promise((r) => (server ? server.close(r) : r()));
  server = undefined;
}

/**
 * Run a function in the page: `source` is its text (it came from the test
 * over the agent's channel), called with `arg`.
 */
export async function evaluate(source, arg) {
  if (!page) throw new Error('Chromium is not running: start() first');
  // eslint-disable-next-line no-new-func
  return page.evaluate(new Function(`return (${source})`)(), arg);
}

/** Start a program of build/ in the page; its id. */
export function startProgram(program, args = [], options = {}) {
  return evaluate('([p, a, o]) => window.start(p, a, o)', [program, args, options]);
}

/** Wait until a program has printed `text` on `stream`; its output so far. */
export async function waitForOutput(id, text, { stream = 'stdout', timeoutMs = 60_000 } = {}) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const out = await evaluate('(id) => window.output(id)', id);
    if (out[stream].includes(text)) return out;
    if (out.code !== null) throw new Error(`the program exited (${out.code}) before printing '${text}':\n${out.stdout}\n${out.stderr}`);
    if (Date.now() > end) throw new Error(`no '${text}' on ${stream} within ${timeoutMs} ms:\n${out.stdout}\n${out.stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Wait for a program's exit (killed after `timeoutMs`: code null). */
export function finishProgram(id, timeoutMs = 60_000) {
  return evaluate('([id, ms]) => window.finish(id, ms)', [id, timeoutMs]);
}

/** Run a program to its end. */
export async function run(program, args = [], options = {}) {
  const t0 = performance.now();
  const r = await finishProgram(await startProgram(program, args, options), options.timeoutMs ?? 60_000);
  return { ...r, ms: Math.round(performance.now() - t0) };
}

/**
 * Run guest/webusb-script.mjs in the page on Chromium's navigator.usb.
 * `world.unplug` and `world.plug` name what moves the device: [module, fn,
 * args] of a guest-side module (e.g. gadget.mjs's unbind and bind).
 */
export function runWebusbScript(world) {
  return evaluate(`async (world) => {
    const { webusbScript } = await import('/test/qemu/guest/webusb-script.mjs');
    return webusbScript(navigator.usb, {
      unplug: () => window.lwGuest(...world.unplug),
      plug: () => window.lwGuest(...world.plug),
    });
  }`, world);
}

/** The page's console lines and the host's log since the last call. */
export async function logs() {
  const host = page ? await evaluate('() => window.hostLog()') : [];
  return { console: consoleLines.splice(0), host };
}

/**
 * WebUsbAllowDevicesForUrls for ORIGIN, in a writable copy of
 * /etc/chromium bound over the read-only one (once; later calls rewrite
 * the file: start Chromium after).
 */
function writePolicy(grants) {
  if (!fs.existsSync(POLICY_DIR)) throw new Error(`${POLICY_DIR} is missing: Debian's chromium package makes it`);
  const mounted = fs.readFileSync('/proc/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === POLICY_DIR);
  if (!mounted) {
    fs.mkdirSync(POLICY_COPY, { recursive: true });
    fs.cpSync(POLICY_DIR, POLICY_COPY, { recursive: true });
    execFileSync('mount', ['--bind', POLICY_COPY, POLICY_DIR]);
  }
  const managed = path.join(POLICY_DIR, 'policies/managed');
  fs.mkdirSync(managed, { recursive: true });
  fs.writeFileSync(path.join(managed, 'libusb-wasm-tests.json'), JSON.stringify({
    WebUsbAllowDevicesForUrls: [{
      devices: grants.map((g) => ({ vendor_id: g.vendorId, product_id: g.productId })),
      urls: [ORIGIN],
    }],
  }, null, 2));
}
