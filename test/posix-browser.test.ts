/**
 * The POSIX runtime in real headless Chromium: timers, signals from
 * runProgram().signal(), stdin from a ReadableStream, and sockets that fail
 * with ENOSYS and say why (test/c/posix_*.c in a Web Worker, the webusb
 * transport over simulated devices).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { openFixture } from './browser.js';

let fixture: { page: Page; consoleLines: string[]; close(): Promise<void> };

beforeAll(async () => {
  fixture = await openFixture('posix.html');
}, 60000);

afterAll(async () => {
  await fixture?.close();
});

interface Outcome { code: number; stdout: string; stderr: string }

/** Run a program to its end in the page; `signal` is sent when it says "ready". */
async function runInPage(name: string, args: string[], options: { stdin?: string; signal?: string } = {}): Promise<Outcome> {
  return fixture.page.evaluate(([n, a, stdin, signal]) => (window as unknown as {
    runPosix(n: string, a: string[], stdin?: string, signal?: string): Promise<Outcome>;
  }).runPosix(n, a, stdin ?? undefined, signal ?? undefined), [name, args, options.stdin ?? null, options.signal ?? null] as const);
}

describe('the POSIX runtime in Chromium', () => {
  it('timers and waiting, with an event thread blocked in libusb', async () => {
    const cases = ['setitimer', 'alarm', 'sigsuspend', 'sigwait', 'nanosleep', 'sleep'];
    const r = await runInPage('posix_timers', ['--usb', ...cases]);
    expect(r.stdout.trim().split('\n'), r.stderr + fixture.consoleLines.join('\n')).toEqual([...cases.map((c) => `PASS ${c}`), 'PASS usb-background']);
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
