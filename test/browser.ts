/**
 * Test helpers for browsers: a static file server with the cross-origin
 * isolation headers libusb-wasm needs, and Debian's Chromium driven by
 * playwright-core (scripts/ensure-chromium.sh installs it).
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser, type Page } from 'playwright-core';

const TYPES: Record<string, string> = {
  '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm',
  '.json': 'application/json', '.map': 'application/json',
};

/**
 * Serve `root` on 127.0.0.1 with COOP/COEP, and `headers` on every response
 * (an asset server for other origins sends CORS and CORP); resolves to its base URL.
 */
export async function serve(root: string, headers: Record<string, string> = {}): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const file = path.join(root, decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname));
    if (!file.startsWith(root) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, {
      'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream',
      'cross-origin-opener-policy': 'same-origin',
      'cross-origin-embedder-policy': 'require-corp',
      ...headers,
    });
    fs.createReadStream(file).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

export async function launchChromium(): Promise<Browser> {
  if (!fs.existsSync('/usr/bin/chromium')) throw new Error('/usr/bin/chromium is missing: run scripts/ensure-chromium.sh (make test does)');
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
}

/** Collect a page's console output and errors, for assertions and failure messages. */
export function recordConsole(page: Page): string[] {
  const lines: string[] = [];
  page.on('console', (m) => lines.push(`[${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => lines.push(`[pageerror] ${e.message}`));
  return lines;
}

/** A page of test/fixtures in Chromium, served with COOP/COEP, once it has set `window.ready`. */
export async function openFixture(file: string): Promise<{ page: Page; consoleLines: string[]; close(): Promise<void> }> {
  const server = await serve(path.resolve(path.dirname(new URL(import.meta.url).pathname), '..'));
  const browser = await launchChromium();
  const page = await browser.newPage();
  const consoleLines = recordConsole(page);
  await page.goto(`${server.url}test/fixtures/${file}`);
  await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true, null, { timeout: 15000 });
  return { page, consoleLines, close: async () => { await browser.close(); await server.close(); } };
}
