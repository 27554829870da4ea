/**
 * The POSIX runtime in real headless Chromium: timers, signals from
 * runProgram().signal(), stdin from a ReadableStream, and sockets that fail
 * with ENOSYS and say why (test/c/posix_*.c in a Web Worker, the webusb
 * transport over simulated devices).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { ROOT } from './helpers.js';
import { launchChromium, recordConsole, serve } from './browser.js';

let browser: Browser;
let server: { url: string; close(): Promise<void> };
let page: Page;
let consoleLines: string[];

beforeAll(async () => {
  server = await serve(ROOT);
  browser = await launchChromium();
  page = await browser.newPage();
  consoleLines = recordConsole(page);
  await page.goto(`${server.url}test/fixtures/posix.html`);
  await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true, null, { timeout: 15000 });
}, 60000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

interface Outcome { code: number; stdout: string; stderr: string }

/** Run a program to its end; `signal` is sent after `ready` appears on its stdout. */
async function runInPage(name: string, args: string[], options: { stdin?: string; signal?: string } = {}): Promise<Outcome> {
  return page.evaluate(async ([n, a, stdin, signal]) => {
    type Run = { p: { exited: Promise<number>; signal(s: string): void }; out: { stdout: string; stderr: string } };
    const w = window as unknown as { startPosix(n: string, a: string[], s?: string): Run; waitFor(r: Run, t: string): Promise<void> };
    const run = w.startPosix(n, a, stdin ?? undefined);
    if (signal) {
      await w.waitFor(run, 'ready');
      run.p.signal(signal);
    }
    const code = await run.p.exited;
    return { code, ...run.out };
  }, [name, args, options.stdin ?? null, options.signal ?? null] as const);
}

describe('the POSIX runtime in Chromium', () => {
  it('timers and waiting, with an event thread blocked in libusb', async () => {
    const cases = ['setitimer', 'alarm', 'sigsuspend', 'sigwait', 'nanosleep', 'sleep'];
    const r = await runInPage('posix_timers', ['--usb', ...cases]);
    expect(r.stdout.trim().split('\n'), r.stderr + consoleLines.join('\n')).toEqual([...cases.map((c) => `PASS ${c}`), 'PASS usb-background']);
  });

  it('a signal from runProgram().signal() runs the handler', async () => {
    const r = await runInPage('posix_signals', ['--usb', 'handler'], { signal: 'SIGUSR1' });
    expect(r.stdout).toBe('ready\nPASS handler\nPASS usb-background\n');
    expect(r.code).toBe(0);
  });

  it('a signal without handler ends the program with 128 + the signal', async () => {
    expect((await runInPage('posix_signals', ['default'], { signal: 'SIGTERM' })).code).toBe(143);
  });

  it('stdin from a ReadableStream, read as the program reads', async () => {
    const text = Array.from({ length: 2000 }, (_, i) => `line ${i}\n`).join('');
    const r = await runInPage('posix_stdin', ['lines'], { stdin: text });
    expect(r.stdout).toContain('hello line 0\nname? hello line 1\n');
    expect(r.stdout).toContain('hello line 1999\nname? bye\n');
  });

  it('sockets fail with ENOSYS, and one line on stderr says why', async () => {
    const r = await runInPage('posix_sockets', ['denied', '3333']);
    expect(r.stdout).toBe('socket: Function not implemented\n');
    expect(r.stderr).toContain('libusb-wasm: socket(): TCP sockets need the Node runner: browsers give pages no TCP');
  });
});
