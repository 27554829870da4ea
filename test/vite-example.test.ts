/**
 * examples/vite as its README says to use it, in a scratch copy: npm
 * install (libusb-wasm from the packed tarball, which is what a registry
 * install gives, instead of `file:../..`), npm run program (emcc), then the
 * page in Chromium through Vite's dev server and through the production
 * build (`npm run build`, served by `npm run preview`): the C program lists
 * the simulated devices and the typed API echoes through the loopback device.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { launchChromium, recordConsole } from './browser.js';
import { ROOT } from './helpers.js';

const exec = promisify(execFile);
const EXAMPLE = path.join(ROOT, 'examples/vite');
let scratch = '';
let app = '';
let browser: Browser;
const started: ChildProcess[] = [];

/** The example's README block, as written. */
function readmeSteps(): string[] {
  const readme = fs.readFileSync(path.join(EXAMPLE, 'README.md'), 'utf8');
  const block = /<!-- example:vite[^>]*-->\s*\n```sh\n([\s\S]*?)\n```/.exec(readme)?.[1];
  if (!block) throw new Error('examples/vite/README.md has no block marked example:vite');
  return block.split('\n').map((line) => line.replace(/#.*/, '').trim()).filter(Boolean);
}

/** Run one of the README's commands in the example, with a timeout and its output in the failure. */
async function npm(command: string, timeout: number): Promise<string> {
  const args = command.split(/\s+/).slice(1);
  try {
    const { stdout, stderr } = await exec('npm', args, { cwd: app, timeout, env: { ...process.env, NO_COLOR: '1' } });
    return stdout + stderr;
  } catch (e) {
    const r = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(`\`${command}\` failed in ${app}: ${r.message}\n${r.stdout ?? ''}${r.stderr ?? ''}`);
  }
}

/** Start a server script (`npm run dev`, `npm run preview`) on 127.0.0.1; resolves with the URL it prints. */
async function startServer(command: string): Promise<string> {
  const child = spawn('npm', [...command.split(/\s+/).slice(1), '--', '--host', '127.0.0.1'], {
    cwd: app, detached: true, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.push(child);
  let output = '';
  return new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`\`${command}\` printed no URL within 60 s:\n${output}`)), 60_000);
    const read = (chunk: Buffer) => {
      output += chunk.toString();
      const url = /Local:\s+(http:\/\/127\.0\.0\.1:\d+\/)/.exec(output.replace(/\x1b\[[0-9;]*m/g, ''))?.[1];
      if (url) {
        clearTimeout(timer);
        resolve(url);
      }
    };
    child.stdout!.on('data', read);
    child.stderr!.on('data', read);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`\`${command}\` exited with ${code}:\n${output}`));
    });
  });
}

/** End a server started above: its whole process group (npm, the shell, vite), by its id. */
function stop(child: ChildProcess): void {
  if (child.exitCode !== null || child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch {
    // already gone
  }
}

/** Open the page and wait until its script is done; its text, and what went wrong on the way. */
async function visit(url: string): Promise<{ text: string; problems: string[]; log: string[] }> {
  const page = await browser.newPage();
  try {
    const log = recordConsole(page);
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('response', (r) => {
      if (r.status() >= 400) problems.push(`HTTP ${r.status()} ${r.url()}`);
    });
    await page.goto(url);
    await page.waitForFunction(() => document.body.dataset.done === 'true', null, { timeout: 60_000 })
      .catch(() => problems.push('the page never finished (60 s)'));
    return { text: (await page.textContent('#out')) ?? '', problems, log };
  } finally {
    await page.close();
  }
}

/** What the page prints when both parts worked. */
function expectWorked(r: { text: string; problems: string[]; log: string[] }): void {
  expect(r.problems, r.log.join('\n')).toEqual([]);
  expect(r.text, r.log.join('\n')).not.toContain('failed:');
  expect(r.text).toContain('04d8:003f bus 1 address 2\n1209:0001 bus 1 address 1\n2 device(s)\nexit status 0');
  expect(r.text).toContain('typed API: Loopback echoed "hello from Vite"');
}

beforeAll(async () => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'lw-vite-'));
  app = path.join(scratch, 'app');
  fs.cpSync(EXAMPLE, app, {
    recursive: true, filter: (src) => !/[/\\](node_modules|public|dist|package-lock\.json)$/.test(src),
  });
  // packs what `make build` made (no prepack: dist/ must not change under the tests running beside this one)
  const { stdout } = await exec('npm', ['pack', '--ignore-scripts', '--pack-destination', scratch, '--silent'], { cwd: ROOT, timeout: 300_000 });
  const tarball = path.join(scratch, stdout.trim().split('\n').pop()!);
  const manifest = JSON.parse(fs.readFileSync(path.join(app, 'package.json'), 'utf8'));
  expect(manifest.dependencies['libusb-wasm']).toBe('file:../..');
  manifest.dependencies['libusb-wasm'] = `file:${tarball}`;
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify(manifest, null, 2));
  browser = await launchChromium();
}, 600_000);

afterAll(async () => {
  for (const child of started) stop(child);
  await browser?.close();
  if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
});

describe('examples/vite, as its README says', () => {
  const steps = readmeSteps();

  it('has the steps the test runs', () => {
    expect(steps).toEqual(['npm install', 'npm run program', 'npm run dev', 'npm run build', 'npm run preview']);
  });

  it('npm install, npm run program: the C program compiled into public/', async () => {
    await npm(`${steps[0]} --no-audit --no-fund --prefer-offline`, 300_000);
    expect(fs.existsSync(path.join(app, 'node_modules/libusb-wasm/dist/browser.js'))).toBe(true);
    expect(fs.lstatSync(path.join(app, 'node_modules/libusb-wasm')).isSymbolicLink()).toBe(false);
    await npm(steps[1], 300_000);
    for (const f of ['list-devices.js', 'list-devices.wasm']) expect(fs.existsSync(path.join(app, 'public', f)), f).toBe(true);
  }, 600_000);

  it('the dev server sends COOP/COEP, and the page runs the C program and the typed API in Chromium', async () => {
    const url = await startServer(steps[2]);
    const response = await fetch(url);
    expect(response.headers.get('cross-origin-opener-policy')).toBe('same-origin');
    expect(response.headers.get('cross-origin-embedder-policy')).toBe('require-corp');
    expectWorked(await visit(url));
    stop(started.at(-1)!);
  }, 180_000);

  it('the production build, served by the preview server, does the same', async () => {
    await npm(steps[3], 300_000);
    const assets = fs.readdirSync(path.join(app, 'dist/assets'));
    // the build followed the package's new URL('./file', import.meta.url)s and copied the workers and the wasm
    for (const f of [/^browser-worker-.*\.js$/, /^browser-host-worker-.*\.js$/, /^libusb-api-.*\.wasm$/]) {
      expect(assets.some((a) => f.test(a)), `${f} in ${assets.join(' ')}`).toBe(true);
    }
    const url = await startServer(steps[4]);
    expect((await fetch(url)).headers.get('cross-origin-embedder-policy')).toBe('require-corp');
    expectWorked(await visit(url));
    stop(started.at(-1)!);
  }, 400_000);
});
