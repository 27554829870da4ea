/**
 * Capture and replay in real headless Chromium: a program's capture comes
 * back to the page as a Blob (tshark reads it), the same program replayed
 * in the page from those bytes gives the same output, and the demo page's
 * capture toggle offers the file for download.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { ROOT } from './helpers.js';
import { launchChromium, recordConsole, serve } from './browser.js';
import { tsharkFields, tsharkProblems } from './tshark.js';

let browser: Browser;
let server: { url: string; close(): Promise<void> };
let page: Page;
let consoleLines: string[];
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lw-capture-browser-'));

beforeAll(async () => {
  server = await serve(ROOT);
  browser = await launchChromium();
  page = await browser.newPage();
  consoleLines = recordConsole(page);
  await page.goto(`${server.url}test/fixtures/capture.html`);
  await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true, null, { timeout: 15000 });
}, 60000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

interface Result { code: number; stdout: string; stderr: string; type?: string; capture?: number[] }

function runInPage(fn: 'runCaptured' | 'runReplayed', program: string, args: string[], third: unknown): Promise<Result> {
  return page.evaluate(([f, p, a, t]) => (window as unknown as Record<string, (...x: unknown[]) => Promise<Result>>)[f](p, a, t),
    [fn, program, args, third] as const);
}

describe('capture and replay in Chromium', () => {
  it('transfer_semantics: the capture comes back as a Blob, Wireshark reads it, and the page replays it', async () => {
    const first = await runInPage('runCaptured', 'tests/transfer_semantics.js', ['zlp', 'stall', 'iso'], { devices: ['loopback'], capture: true });
    expect(first.stdout, first.stderr + consoleLines.join('\n')).toBe('PASS zlp\nPASS stall\nPASS iso\n');
    expect(first.type).toBe('application/x-pcapng');
    const file = path.join(dir, 'browser.pcapng');
    fs.writeFileSync(file, Uint8Array.from(first.capture!));
    expect(tsharkProblems(file)).toEqual([]);
    expect(tsharkFields(file, 'usb.urb_status == -32', ['usb.endpoint_address'])).toEqual([['0x81'], ['0x80']]);
    expect(tsharkFields(file, 'usb.iso.error_count == 2', ['usb.iso.iso_status'])).toEqual([['0,-71,0,-71,0,0,0,0']]);

    const again = await runInPage('runReplayed', 'tests/transfer_semantics.js', ['zlp', 'stall', 'iso'], first.capture);
    expect(again.stderr).toBe('');
    expect(again.stdout).toBe(first.stdout);
    expect(again.code).toBe(0);
  });

  it('the demo page: tick capture, run, download a pcapng of the run', async () => {
    const demo = await browser.newPage();
    try {
      await demo.goto(`${server.url}demo/index.html`);
      await demo.selectOption('#preset', 'xusb-loopback');
      await demo.check('#capture');
      await demo.click('#run');
      await demo.waitForFunction(() => /^exited/.test(document.querySelector('#status')!.textContent!), null, { timeout: 30_000 });
      await demo.waitForFunction(() => !(document.querySelector('#download-capture') as HTMLButtonElement).disabled, null, { timeout: 10_000 });
      const [download] = await Promise.all([demo.waitForEvent('download'), demo.click('#download-capture')]);
      expect(download.suggestedFilename()).toBe('xusb.pcapng');
      const file = path.join(dir, 'demo.pcapng');
      await download.saveAs(file);
      expect(tsharkProblems(file)).toEqual([]);
      const ids = tsharkFields(file, 'usb.idVendor', ['usb.idVendor', 'usb.idProduct']);
      expect(ids[0]).toEqual(['0x1209', '0x0001']);
    } finally {
      await demo.close();
    }
  });
});
