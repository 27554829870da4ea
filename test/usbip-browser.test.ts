/**
 * USB/IP from a browser: the demo page in real headless Chromium runs
 * libusb's listdevs and xusb with the usbip transport, through
 * `usbip-bridge` (a WebSocket the page opens) to `usbip-serve` (TCP); and
 * the bridge forwards only to the servers it allows, for the pages it
 * allows.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { WebSocket } from 'ws';
import { launchChromium, recordConsole } from './browser.js';
import type { RunningUsbipServer, UsbipBridge } from '../ts/runner/usbip/index.js';

const usbip = (await import('../dist/usbip.js' as string)) as typeof import('../ts/runner/usbip/index.js');
const { startServer } = (await import('../scripts/serve.mjs' as string)) as {
  startServer(o: { port: number }): Promise<{ server: Server; url: string }>;
};

let browser: Browser;
let web: Server;
let page: Page;
let consoleLines: string[];
let usbipServer: RunningUsbipServer;
let bridge: UsbipBridge;
let dir: string;
let image: Uint8Array;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lw-usbip-browser-'));
  image = new Uint8Array(2048 * 512);
  const text = new TextEncoder().encode('block zero, served over USB/IP to a browser');
  image.set(text);
  for (let i = text.length; i < 512; i++) image[i] = i & 0xff;
  fs.writeFileSync(path.join(dir, 'disk.img'), image);
  usbipServer = await usbip.startUsbipServer({ devices: ['loopback', 'msc:blocks=2048,image=disk.img'], cwd: dir, port: 0, log: () => {} });
  bridge = await usbip.UsbipBridge.start({ allow: [`127.0.0.1:${usbipServer.port}`], port: 0, log: () => {} });
  const started = await startServer({ port: 0 });
  web = started.server;
  browser = await launchChromium();
  page = await browser.newPage();
  consoleLines = recordConsole(page);
  await page.goto(started.url);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await new Promise((r) => web?.close(r));
  await bridge?.close();
  await usbipServer?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Run a preset of the demo page on the usbip source; the exit status and the terminal's text. */
async function runOnPage(preset: string, server: string, args?: string): Promise<{ code: number; output: string }> {
  await page.selectOption('#preset', preset);
  if (args !== undefined) await page.fill('#args', args);
  await page.check('input[name=source][value=usbip]');
  await page.fill('#usbip-server', server);
  await page.click('#run');
  await page.waitForFunction(() => /^(exited|could not)/.test(document.querySelector('#status')!.textContent!), null, { timeout: 60_000 });
  const status = (await page.textContent('#status'))!;
  return { code: Number(/status (\d+)/.exec(status)?.[1] ?? NaN), output: (await page.textContent('#terminal'))! };
}

describe('the demo page with a USB/IP server, through the bridge (Chromium)', () => {
  it('listdevs lists the server\'s devices', async () => {
    const r = await runOnPage('listdevs', bridge.url);
    expect(r.code, r.output + consoleLines.join('\n')).toBe(0);
    expect(r.output.trim().split('\n').sort()).toEqual([
      '1209:0001 (bus 1, device 1) path: 1',
      '1209:0002 (bus 1, device 2) path: 2',
    ]);
  });

  it('xusb reads a known block of the server\'s mass-storage device', async () => {
    const r = await runOnPage('xusb-msc', `${bridge.url}?server=127.0.0.1:${usbipServer.port}`, '1209:0002');
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain('Max LBA: 000007FF, Block Size: 00000200');
    const dump = [...r.output.matchAll(/^ {2}([0-9a-f]{8}) {2}((?:[0-9a-f]{2} ){16})/gm)]
      .flatMap((m) => m[2].trim().split(' ').map((b) => parseInt(b, 16)));
    expect(dump).toEqual(Array.from(image.subarray(0, 512)));
  });

  it('a server the bridge does not allow: no devices, and the page is told', async () => {
    const r = await runOnPage('listdevs', `${bridge.url}?server=127.0.0.1:1`);
    expect(r.code).toBe(0);
    expect(r.output).not.toContain('1209:');
    expect(r.output).toMatch(/could not reach the bridge at ws:\/\/127\.0\.0\.1:\d+\/\?server=127\.0\.0\.1:1/);
  });
});

describe('the bridge forwards only what it allows', () => {
  /** Open a WebSocket as `origin`; resolves with the HTTP status the handshake got (101: accepted). */
  const handshake = (url: string, origin?: string) => new Promise<number>((resolve) => {
    const ws = new WebSocket(url, origin ? { origin } : {});
    ws.on('upgrade', () => {
      resolve(101);
      ws.close();
    });
    ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.on('error', () => {});
  });

  it('servers: the allowed one, by default or by name; nothing else', async () => {
    expect(await handshake(bridge.url)).toBe(101);
    expect(await handshake(`${bridge.url}?server=127.0.0.1:${usbipServer.port}`)).toBe(101);
    expect(await handshake(`${bridge.url}?server=127.0.0.1:22`)).toBe(403);
    expect(await handshake(`${bridge.url}?server=localhost:${usbipServer.port}`)).toBe(403);
    expect(await handshake(`${bridge.url}?server=10.0.0.1`)).toBe(403);
  });

  it('pages: from this machine by default, others only when allowed', async () => {
    expect(await handshake(bridge.url, 'http://localhost:8080')).toBe(101);
    expect(await handshake(bridge.url, 'http://127.0.0.1:5000')).toBe(101);
    expect(await handshake(bridge.url, 'https://evil.example')).toBe(403);
    const open = await usbip.UsbipBridge.start({ allow: [`127.0.0.1:${usbipServer.port}`], allowOrigins: ['https://ide.example'], port: 0, log: () => {} });
    try {
      expect(await handshake(open.url, 'https://ide.example')).toBe(101);
      expect(await handshake(open.url, 'http://localhost:8080')).toBe(403);
    } finally {
      await open.close();
    }
  });

  it('with two servers allowed, a page must name one', async () => {
    const two = await usbip.UsbipBridge.start({ allow: [`127.0.0.1:${usbipServer.port}`, '127.0.0.1:3240'], port: 0, log: () => {} });
    try {
      expect(await handshake(two.url)).toBe(403);
      expect(await handshake(`${two.url}?server=127.0.0.1:3240`)).toBe(101);
    } finally {
      await two.close();
    }
  });
});
