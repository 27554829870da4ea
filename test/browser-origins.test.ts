/**
 * The runtime loaded from another origin, as from a CDN, in real headless
 * Chromium: the page is served by one local server, libusb-wasm's modules,
 * worker scripts and wasm and the compiled programs by another (another
 * port: another origin) that answers with CORS and CORP headers. Browsers
 * refuse `new Worker()` for a script of another origin, so the runtime
 * starts its workers (and the program's pthreads) from same-origin blobs.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, recordConsole, serve } from './browser.js';
import { ROOT } from './helpers.js';

/** What an asset host (a CDN) must send for a cross-origin isolated page to use its files. */
const ASSET_HEADERS = { 'access-control-allow-origin': '*', 'cross-origin-resource-policy': 'cross-origin' };

let browser: Browser;
let page: Page;
let pageLog: string[];
let scratch: string;
const servers: { url: string; close(): Promise<void> }[] = [];
/** The page's origin, the asset host, and an asset host that sends neither CORS nor CORP. */
let site: string, assets: string, bareAssets: string;

beforeAll(async () => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'lw-origins-'));
  // import() written here would be rewritten by vitest's transform: the page provides it
  fs.writeFileSync(path.join(scratch, 'index.html'), '<!doctype html><meta charset="utf-8"><title>page</title>'
    + '<script type="module">window.importModule = (url) => import(url);</script>');
  for (const [root, headers] of [[scratch, {}], [ROOT, ASSET_HEADERS], [ROOT, {}]] as const) servers.push(await serve(root, headers));
  [site, assets, bareAssets] = servers.map((s) => s.url);
  expect(new URL(site).origin).not.toBe(new URL(assets).origin);
  browser = await launchChromium();
  page = await browser.newPage();
  pageLog = recordConsole(page);
  await page.goto(`${site}index.html`);
  await page.waitForFunction(() => 'importModule' in window);
});

afterAll(async () => {
  await browser?.close();
  for (const s of servers) await s.close();
  if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
});

interface ImportingWindow {
  importModule(url: string): Promise<typeof import('../ts/runner/browser/index.js') & typeof import('../ts/api/browser.js')>;
}

interface Outcome {
  code: number;
  stdout: string[];
  stderr: string[];
}

/** runProgram() from the runtime module at `runtime`, with the options the page builds from `args`. */
async function runFromPage(runtime: string, options: { program: string; args?: string[]; devices?: string[]; workerUrl?: string; hostWorkerUrl?: string }): Promise<Outcome> {
  return page.evaluate(async ({ runtime, options }) => {
    const { runProgram } = await (window as unknown as ImportingWindow).importModule(runtime);
    const stdout: string[] = [];
    const stderr: string[] = [];
    const p = runProgram({ ...options, stdout: (s: string) => stdout.push(s), stderr: (s: string) => stderr.push(s) });
    const timeout = new Promise<number>((resolve) => setTimeout(() => resolve(-1), 60_000));
    const code = await Promise.race([p.exited, timeout]);
    if (code === -1) await p.kill();
    return { code, stdout, stderr };
  }, { runtime, options });
}

describe('libusb-wasm from another origin (Chromium)', () => {
  it('the page is cross-origin isolated, and the asset host is another origin', async () => {
    expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);
    expect(await page.evaluate(() => location.origin)).toBe(new URL(site).origin);
  });

  it("runs a program whose runtime, workers, .js, .wasm and pthreads' .worker.js all come from the asset host", async () => {
    const r = await runFromPage(`${assets}dist/browser.js`, {
      program: `${assets}build/examples/listdevs.js`, devices: ['loopback', 'hid'],
    });
    expect(r, pageLog.join('\n')).toMatchObject({ code: 0, stderr: [] });
    expect(r.stdout.sort()).toEqual(['04d8:003f (bus 1, device 2) path: 2', '1209:0001 (bus 1, device 1) path: 1']);
  });

  it('runs the typed API from the asset host (createContext with its default assetsUrl)', async () => {
    const text = await page.evaluate(async (runtime) => {
      const { createContext } = await (window as unknown as ImportingWindow).importModule(runtime);
      const usb = await createContext({ devices: ['loopback'] });
      try {
        const [device] = await usb.getDeviceList();
        const handle = await device.open();
        await handle.claimInterface(0);
        await handle.bulkTransfer(0x01, new TextEncoder().encode('across origins'));
        const { data } = await handle.bulkTransfer(0x81, 64, { timeout: 5000 });
        await handle.close();
        return `${device.product}: ${new TextDecoder().decode(data)}`;
      } finally {
        await usb.exit();
      }
    }, `${assets}dist/browser-api.js`);
    expect(text, pageLog.join('\n')).toBe('Loopback: across origins');
  });

  it('says at once what is wrong when a worker script does not load or the program cannot be fetched', async () => {
    const r = await runFromPage(`${assets}dist/browser.js`, {
      program: `${assets}build/examples/listdevs.js`, devices: ['loopback'], workerUrl: `${bareAssets}dist/browser-worker.js`,
    });
    expect(r.code).not.toBe(0);
    expect(r.code).not.toBe(-1); // an error, not a hang
    expect(r.stderr.join('\n')).toContain(`could not load ${bareAssets}dist/browser-worker.js`);
    expect(r.stderr.join('\n')).toContain('Cross-Origin-Resource-Policy: cross-origin');

    const noHost = await runFromPage(`${assets}dist/browser.js`, {
      program: `${assets}build/examples/listdevs.js`, devices: ['loopback'], hostWorkerUrl: `${bareAssets}dist/browser-host-worker.js`,
    });
    expect(noHost.code).not.toBe(-1);
    expect(noHost.stderr.join('\n')).toContain(`could not load ${bareAssets}dist/browser-host-worker.js`);
    // served, but not a script (a dev server's fallback page): the host never started, the program is told at once
    const notScript = await runFromPage(`${assets}dist/browser.js`, {
      program: `${assets}build/examples/listdevs.js`, devices: ['loopback'], hostWorkerUrl: `${site}index.html`,
    });
    expect(notScript.code).toBe(1);
    expect(notScript.stderr.join('\n')).toContain(`could not load ${site}index.html: Uncaught SyntaxError`);

    const noCors = await runFromPage(`${assets}dist/browser.js`, { program: `${bareAssets}build/examples/listdevs.js`, devices: ['loopback'] });
    expect(noCors.code).toBe(1);
    expect(noCors.stderr.join('\n')).toContain(`could not fetch the program's JavaScript ${bareAssets}build/examples/listdevs.js`);
    expect(noCors.stderr.join('\n')).toContain('Access-Control-Allow-Origin');
  });
});
