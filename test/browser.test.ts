/**
 * The demo page in real headless Chromium (Debian's chromium, driven by
 * playwright-core), served over localhost with COOP/COEP by
 * scripts/serve.mjs: libusb's example programs run in a Web Worker against
 * the simulated devices through the webusb transport, and the page stays
 * responsive while a program blocks.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { Server } from 'node:http';
import { ROOT } from './helpers.js';
import { parseIntelHex } from './intel-hex.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = path.join(ROOT, 'test-results');

const { startServer } = (await import('../scripts/serve.mjs' as string)) as {
  startServer(o: { port: number }): Promise<{ server: Server; url: string }>;
};

let browser: Browser;
let server: Server;
let page: Page;
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
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(started.url);
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

/** Pick an example on the demo page, click Run, wait for the exit status. */
async function runOnPage(preset: string, options: { source?: 'sim' | 'webusb'; args?: string; refuseProtected?: boolean } = {}): Promise<Run> {
  await page.selectOption('#preset', preset);
  if (options.args !== undefined) await page.fill('#args', options.args);
  if (options.refuseProtected !== undefined) await page.setChecked('#protected', options.refuseProtected);
  await page.check(`input[name=source][value=${options.source ?? 'sim'}]`);
  await page.click('#run');
  await page.waitForFunction(() => /^(exited|could not)/.test(document.querySelector('#status')!.textContent!), null, { timeout: 30_000 });
  const status = (await page.textContent('#status'))!;
  const code = Number(/status (\d+)/.exec(status)?.[1] ?? NaN);
  const output = (await page.textContent('#terminal'))!;
  const stderr = (await page.$$eval('#terminal .err', (spans) => spans.map((s) => s.textContent).join('')));
  return { code, output, stderr };
}

describe('the demo page in Chromium', () => {
  it('is cross-origin isolated', async () => {
    expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);
    expect(await page.isHidden('#isolation')).toBe(true);
  });

  it('listdevs lists the simulated devices', async () => {
    const r = await runOnPage('listdevs');
    expect(r.code).toBe(0);
    expect(r.output.trim().split('\n').sort()).toEqual([
      '04b4:8613 (bus 1, device 3) path: 3',
      '1209:0001 (bus 1, device 1) path: 1',
      '1209:0002 (bus 1, device 2) path: 2',
    ]);
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

  it('raised no page errors', () => {
    expect(pageErrors).toEqual([]);
  });
});
