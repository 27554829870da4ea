/**
 * The runnable blocks of docs/browser.md and docs/sim.md, as written: each
 * block marked `<!-- run:browser NAME -->` runs as a module in its own page
 * in Chromium (an import map resolves 'libusb-wasm', 'libusb-wasm/browser'
 * and 'libusb-wasm/sim' to dist/, as a bundler would; /programs/ holds the
 * compiled examples), and `run:node+browser` blocks run in Node too. What
 * each prints is checked; a marked block this file does not know fails.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { launchChromium, serve } from './browser.js';
import { ROOT } from './helpers.js';

const exec = promisify(execFile);

/** The "CDN" in docs/browser.md, served here by a second local server (another origin). */
const DOCS_CDN = 'https://cdn.example.com/libusb-wasm/';
const ASSET_HEADERS = { 'access-control-allow-origin': '*', 'cross-origin-resource-policy': 'cross-origin' };
const LISTED = { loopback: '1209:0001 (bus 1, device 1) path: 1', hidFirst: '04d8:003f (bus 1, device 1) path: 1' };

/** What each block prints (console.log), in order; `sorted` where the order is libusb's device list. */
const EXPECTED: Record<string, { lines: string[]; sorted?: boolean }> = {
  'run-program': { lines: ['04d8:003f (bus 1, device 2) path: 2', LISTED.loopback, 'exit status 0'], sorted: true },
  host: {
    lines: [`a: ${LISTED.loopback}`, `b: ${LISTED.loopback}`, 'exit statuses 0 0', '1209:0001 Loopback, 04d8:003f Simple HID Device Demo'],
    sorted: true,
  },
  'typed-api': { lines: ['Loopback ping'] },
  cdn: { lines: ['devices: 1', LISTED.hidFirst, 'exit status 0'] },
  simusb: { lines: ['connect Loopback', 'ok: hello', 'disconnect Loopback', 'devices left: 0'] },
  /** runs after the block above, in the same module */
  'simusb-navigator': { lines: ['connect Loopback', 'ok: through navigator.usb'] },
};

interface Block {
  file: string;
  name: string;
  where: string;
  code: string;
}

function blocks(): Block[] {
  const out: Block[] = [];
  for (const file of ['docs/browser.md', 'docs/sim.md']) {
    const text = fs.readFileSync(path.join(ROOT, file), 'utf8');
    for (const m of text.matchAll(/<!-- run:(\S+) (\S+)[^>]*-->\s*\n```js\n([\s\S]*?)\n```/g)) {
      out.push({ file, where: m[1], name: m[2], code: m[3] });
    }
  }
  return out;
}

const BLOCKS = blocks();
const code = (name: string) => BLOCKS.find((b) => b.name === name)!.code;
/** A block as the module that runs it: simusb-navigator continues simusb. */
const moduleOf = (name: string) => (name === 'simusb-navigator' ? `${code('simusb')}\n${code(name)}` : code(name));

let scratch = '';
let browser: Browser;
let site: { url: string; close(): Promise<void> };
let cdn: { url: string; close(): Promise<void> };

beforeAll(async () => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'lw-docs-browser-'));
  fs.symlinkSync(path.join(ROOT, 'dist'), path.join(scratch, 'dist'));
  fs.symlinkSync(path.join(ROOT, 'build/examples'), path.join(scratch, 'programs'));
  fs.mkdirSync(path.join(scratch, 'blocks'));
  const imports = { 'libusb-wasm': '/dist/browser-api.js', 'libusb-wasm/browser': '/dist/browser.js', 'libusb-wasm/sim': '/dist/browser-sim.js' };
  // import() written in this file would be rewritten by vitest's transform: the page provides it
  fs.writeFileSync(path.join(scratch, 'index.html'), `<!doctype html><meta charset="utf-8"><title>docs</title><link rel="icon" href="data:,">
    <script type="importmap">${JSON.stringify({ imports })}</script>
    <script type="module">window.importModule = (url) => import(url);</script>`);
  site = await serve(scratch);
  cdn = await serve(scratch, ASSET_HEADERS);
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await site?.close();
  await cdn?.close();
  if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
});

/** Run a module in a fresh page; its console.log lines, and anything else it printed or threw. */
async function runInChromium(name: string, source: string): Promise<{ lines: string[]; problems: string[] }> {
  const file = path.join(scratch, 'blocks', `${name}.js`);
  fs.writeFileSync(file, source);
  const page = await browser.newPage();
  const lines: string[] = [];
  const problems: string[] = [];
  page.on('console', (m) => (m.type() === 'log' ? lines : problems).push(m.type() === 'log' ? m.text() : `[${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => problems.push(`[pageerror] ${e.message}`));
  try {
    await page.goto(`${site.url}index.html`);
    await page.waitForFunction(() => 'importModule' in window);
    const outcome = await page.evaluate(async (url) => {
      const load = (window as unknown as { importModule(url: string): Promise<unknown> }).importModule(url);
      const timeout = new Promise((resolve) => setTimeout(() => resolve('timed out after 60 s'), 60_000));
      return Promise.race([load.then(() => 'done', (e) => `threw: ${e?.stack ?? e}`), timeout]);
    }, `${site.url}blocks/${name}.js`);
    if (outcome !== 'done') problems.push(`the block ${outcome}`);
    return { lines, problems };
  } finally {
    await page.close();
  }
}

function expectPrinted(name: string, lines: string[]): void {
  const { lines: expected, sorted } = EXPECTED[name];
  const all = name === 'simusb-navigator' ? [...EXPECTED.simusb.lines, ...expected] : expected;
  expect(sorted ? [...lines].sort() : lines).toEqual(sorted ? [...all].sort() : all);
}

describe('the runnable blocks of docs/browser.md and docs/sim.md', () => {
  it('are the ones this test knows', () => {
    expect(BLOCKS.map((b) => b.name).sort()).toEqual(Object.keys(EXPECTED).sort());
    expect(code('cdn')).toContain(DOCS_CDN);
  });

  for (const name of Object.keys(EXPECTED)) {
    it(`${name}: runs in Chromium and prints what the docs say`, async () => {
      const source = moduleOf(name).replaceAll(DOCS_CDN, cdn.url);
      const r = await runInChromium(name, source);
      expect(r.problems).toEqual([]);
      expectPrinted(name, r.lines);
    }, 90_000);
  }

  it('simusb: runs in Node too, from the package entry libusb-wasm/sim', async () => {
    expect(BLOCKS.find((b) => b.name === 'simusb')!.where).toBe('node+browser');
    const dir = path.join(scratch, 'node');
    fs.mkdirSync(path.join(dir, 'node_modules'), { recursive: true });
    fs.symlinkSync(ROOT, path.join(dir, 'node_modules/libusb-wasm'));
    fs.writeFileSync(path.join(dir, 'simusb.mjs'), code('simusb'));
    const { stdout, stderr } = await exec(process.execPath, ['simusb.mjs'], { cwd: dir, timeout: 60_000 });
    expect(stderr).toBe('');
    expectPrinted('simusb', stdout.trim().split('\n'));
  }, 90_000);
});
