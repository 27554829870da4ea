/**
 * The demo page in real headless Chromium (Debian's chromium, driven by
 * playwright-core), served over localhost with COOP/COEP by
 * scripts/serve.mjs: libusb's example programs, and programs of the user's
 * own (files picked from disk, or a URL), run in a Web Worker against every
 * simulated model through the webusb transport; the page stays responsive
 * while a program blocks, and fits a 400 px wide screen.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { Server } from 'node:http';
import { ROOT } from './helpers.js';
import { parseIntelHex } from './intel-hex.js';
import { modelNames } from '../ts/sim/models/index.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = path.join(ROOT, 'test-results');

const { startServer } = (await import('../scripts/serve.mjs' as string)) as {
  startServer(o: { port: number }): Promise<{ server: Server; url: string }>;
};

let browser: Browser;
let server: Server;
let page: Page;
let demoUrl: string;
const pageErrors: string[] = [];

beforeAll(async () => {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: install it with scripts/ensure-chromium.sh (make test does)`);
  }
  const started = await startServer({ port: 0 });
  server = started.server;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
  demoUrl = started.url;
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(demoUrl);
});

afterAll(async () => {
  await browser?.close();
  await new Promise((r) => server?.close(r));
});

interface Run {
  code: number;
  /** everything in the terminal, stdout and stderr */
  output: string;
  stderr: string;
}

interface RunChoices {
  source?: 'sim' | 'webusb';
  args?: string;
  refuseProtected?: boolean;
  /** Exactly these simulated models ticked (default: what the preset ticks). */
  devices?: string[];
  /** The user's own program (preset 'own'): files to pick, or a URL. */
  files?: string[];
  url?: string;
}

/** Pick a program on the demo page, click Run, wait for the exit status. */
async function runOnPage(preset: string, options: RunChoices = {}, on: Page = page): Promise<Run> {
  await on.selectOption('#preset', preset);
  if (options.files) await on.setInputFiles('#program-files', options.files);
  if (options.url !== undefined) await on.fill('#program-url', options.url);
  if (options.devices) {
    for (const name of modelNames()) await on.setChecked(`input[name=device][value=${name}]`, options.devices.includes(name));
  }
  if (options.args !== undefined) await on.fill('#args', options.args);
  if (options.refuseProtected !== undefined) await on.setChecked('#protected', options.refuseProtected);
  await on.check(`input[name=source][value=${options.source ?? 'sim'}]`);
  await on.click('#run');
  await on.waitForFunction(() => /^(exited|could not)/.test(document.querySelector('#status')!.textContent!), null, { timeout: 30_000 });
  const status = (await on.textContent('#status'))!;
  const code = Number(/status (\d+)/.exec(status)?.[1] ?? NaN);
  const output = (await on.textContent('#terminal'))!;
  const stderr = (await on.$$eval('#terminal .err', (spans) => spans.map((s) => s.textContent).join('')));
  return { code, output, stderr };
}

const EXAMPLES = path.join(ROOT, 'build/examples');
/** listdevs' lines for the models in registry order (loopback, fx2, mass-storage, hid), sorted. */
const ALL_MODELS_LISTED = [
  '04b4:8613 (bus 1, device 2) path: 2',
  '04d8:003f (bus 1, device 4) path: 4',
  '1209:0001 (bus 1, device 1) path: 1',
  '1209:0002 (bus 1, device 3) path: 3',
];

describe('the demo page in Chromium', () => {
  it('is cross-origin isolated', async () => {
    expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);
    expect(await page.isHidden('#isolation')).toBe(true);
  });

  it('offers every registered device model, to start with and to plug in', async () => {
    expect(modelNames()).toEqual(expect.arrayContaining(['loopback', 'fx2', 'mass-storage', 'hid']));
    expect(await page.$$eval('input[name=device]', (boxes) => boxes.map((b) => (b as HTMLInputElement).value))).toEqual(modelNames());
    expect(await page.$$eval('#plug-model option', (options) => options.map((o) => (o as HTMLOptionElement).value))).toEqual(modelNames());
    expect(await page.textContent('#models')).toContain('hid (04d8:003f Simple HID Device Demo)');
  });

  it('listdevs lists every simulated model', async () => {
    const r = await runOnPage('listdevs');
    expect(r.code).toBe(0);
    expect(r.output.trim().split('\n').sort()).toEqual(ALL_MODELS_LISTED);
  });

  it('runs a program of your own, picked from disk (.js, .wasm, .worker.js)', async () => {
    const r = await runOnPage('own', {
      files: ['listdevs.js', 'listdevs.wasm', 'listdevs.worker.js'].map((f) => path.join(EXAMPLES, f)), devices: ['hid'],
    });
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.output.trim()).toBe('04d8:003f (bus 1, device 1) path: 1');
    expect(await page.textContent('#command')).toBe('$ listdevs.js ');
  });

  it('says which file is missing when the .worker.js was not picked', async () => {
    const r = await runOnPage('own', { files: ['listdevs.js', 'listdevs.wasm'].map((f) => path.join(EXAMPLES, f)), devices: ['hid'] });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('listdevs.js starts its threads from listdevs.worker.js, which emcc wrote next to it: give that file too');
  });

  it('says what to pick when the files are not one program', async () => {
    const r = await runOnPage('own', { files: ['listdevs.js', 'xusb.js', 'xusb.wasm'].map((f) => path.join(EXAMPLES, f)) });
    expect(await page.textContent('#status')).toBe('could not start');
    expect(r.stderr).toContain('pick one program\'s files: its .js and .wasm');
    await page.setInputFiles('#program-files', []);
  });

  it('runs a program of your own from its URL', async () => {
    const r = await runOnPage('own', { url: new URL('../build/examples/testlibusb.js', demoUrl).href, devices: ['hid'] });
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.output).toContain('Dev (bus 1, device 1): 04D8 - 003F');
    await page.selectOption('#preset', 'listdevs');
    expect(await page.isHidden('#own-program')).toBe(true); // its panel shows only for your own program
  });

  it('testlibusb -v dumps the loopback device, BOS included', async () => {
    const r = await runOnPage('testlibusb');
    expect(r.code).toBe(0);
    expect(r.output).toContain('Dev (bus 1, device 1): 1209 - 0001 speed: Unknown');
    expect(r.output).toMatch(/Product:\s+Loopback/);
    expect(r.output).toMatch(/Binary Object Store \(BOS\):\s+wTotalLength:\s+\d+\s+bNumDeviceCaps:\s+3/);
    expect([...r.output.matchAll(/bEndpointAddress:\s+(\S+)/g)].map((m) => m[1])).toEqual(['01h', '81h', '02h', '82h', '03h', '83h']);
  });

  it('xusb reads the mass-storage disk when the protected class is allowed (screenshot)', async () => {
    const r = await runOnPage('xusb-msc', { refuseProtected: false });
    expect(r.code).toBe(0);
    expect(r.output).toContain('VID:PID:REV "LIBUSBW ":"SIM DISK":"1.00"');
    expect(r.output).toContain('Max LBA: 000007FF, Block Size: 00000200');
    expect(r.output).toContain('READ: received 512 bytes');
    expect(r.output).toContain('Hello from a sim'); // block 0 of the demo's disk, in xusb's hex dump
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    const shot = path.join(ARTIFACTS, 'demo-xusb-mass-storage.png');
    await page.screenshot({ path: shot, fullPage: true });
    expect(fs.statSync(shot).size).toBeGreaterThan(10_000);
  });

  it("xusb gets LIBUSB_ERROR_ACCESS for mass storage under Chrome's rules", async () => {
    const r = await runOnPage('xusb-msc', { refuseProtected: true });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('Failed (error -3)');
    expect(r.output).not.toContain('READ: received');
  });

  it('xusb -i probes the loopback device', async () => {
    const r = await runOnPage('xusb-loopback');
    expect(r.code).toBe(0);
    expect(r.output).toContain('Reading BOS descriptor: 3 caps');
    expect(r.output).toContain('String (0x02): "Loopback"');
    expect(r.output).not.toMatch(/Failed/);
  });

  it('fxload loads the bundled Intel-hex image into the FX2LP byte for byte', async () => {
    const r = await runOnPage('fxload');
    expect(r.code).toBe(0);
    expect(r.output).toContain('WROTE: 16 bytes, 1 segments');
    const devices = await page.evaluate(() => (window as unknown as { libusbDemo: { last: { devicesAtExit: Promise<unknown[]> } } })
      .libusbDemo.last.devicesAtExit);
    const fx2 = devices[0] as { cpuRunning: boolean; segments: { address: number; data: number[] }[] };
    const image = parseIntelHex(fs.readFileSync(path.join(ROOT, 'demo/firmware/fx2-blink.hex'), 'utf8'));
    expect(fx2.segments).toEqual(image.map((s) => ({ address: s.address, data: Array.from(s.data) })));
    expect(fx2.cpuRunning).toBe(true);
  });

  it('stays responsive while hotplugtest blocks in libusb_handle_events; a plug and an unplug reach it', async () => {
    await page.selectOption('#preset', 'hotplugtest');
    await page.check('input[name=source][value=sim]');
    await page.click('#run');
    const waiting = () => page.evaluate(() => (window as unknown as { libusbDemo: { running?: { waitingContexts(): Promise<number> } } })
      .libusbDemo.running?.waitingContexts() ?? 0);
    const deadline = Date.now() + 15_000;
    while ((await waiting()) === 0) {
      if (Date.now() > deadline) throw new Error('hotplugtest never blocked waiting for events');
      await new Promise((r) => setTimeout(r, 50));
    }
    // the program's thread sleeps in libusb_handle_events; the page's 100 ms timer keeps firing
    const ticks = () => page.evaluate(() => (window as unknown as { libusbDemo: { ticks: number } }).libusbDemo.ticks);
    const before = await ticks();
    await new Promise((r) => setTimeout(r, 1000));
    expect((await ticks()) - before).toBeGreaterThanOrEqual(5);
    expect(await waiting()).toBe(1);
    expect(await page.textContent('#status')).toBe('running…');

    await page.selectOption('#plug-model', 'loopback');
    await page.click('#plug');
    await page.waitForFunction(() => document.querySelector('#terminal')!.textContent!.includes('Device attached: 1209:0001'));
    await page.waitForFunction(() => document.querySelectorAll('#unplug-which option').length === 1);
    await page.click('#unplug');
    await page.waitForFunction(() => /^exited/.test(document.querySelector('#status')!.textContent!), null, { timeout: 15_000 });
    expect(await page.textContent('#terminal')).toContain('Device detached: 1209:0001');
    expect(await page.textContent('#status')).toMatch(/^exited with status 0 /);
  });

  it("reaches the browser's own navigator.usb from the worker (no devices here: listdevs lists none)", async () => {
    const r = await runOnPage('listdevs', { source: 'webusb' });
    expect(r.stderr).toBe('');
    expect(r.output).toBe('');
    expect(r.code).toBe(0);
  });

  it('fits a 400 px wide screen: nothing overflows sideways, the terminal wraps', async () => {
    const narrow = await browser.newPage({ viewport: { width: 400, height: 800 } });
    try {
      narrow.on('pageerror', (e) => pageErrors.push(e.message));
      await narrow.goto(demoUrl);
      // long lines in the terminal: xusb's hex dump of the disk and libusb's debug log
      const r = await runOnPage('xusb-msc', { refuseProtected: false, args: '-d 1209:0002' }, narrow);
      expect(r.output).toContain('Hello from a sim');
      await narrow.selectOption('#preset', 'own'); // its panel shown too
      const overflow = await narrow.evaluate(() => {
        const width = document.documentElement.clientWidth;
        const sticking = Array.from(document.querySelectorAll('body *'))
          .filter((e) => e.getBoundingClientRect().right > width + 0.5)
          .map((e) => `${e.tagName.toLowerCase()}${e.id ? '#' + e.id : ''} (right edge ${Math.round(e.getBoundingClientRect().right)})`);
        const terminal = document.querySelector('#terminal')!;
        return { width, scrollWidth: document.documentElement.scrollWidth, sticking, terminalScrolls: terminal.scrollWidth > terminal.clientWidth };
      });
      expect(overflow.width).toBe(400);
      expect(overflow.sticking).toEqual([]);
      expect(overflow.scrollWidth).toBeLessThanOrEqual(400);
      expect(overflow.terminalScrolls).toBe(false);
      fs.mkdirSync(ARTIFACTS, { recursive: true });
      await narrow.screenshot({ path: path.join(ARTIFACTS, 'demo-400px.png'), fullPage: true });
    } finally {
      await narrow.close();
    }
  });

  it('raised no page errors', () => {
    expect(pageErrors).toEqual([]);
  });
});
