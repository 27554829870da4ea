/**
 * Signals reach programs (wasm/runtime/signals.c): from runProgram().signal()
 * on every transport while another thread of the program is blocked in
 * libusb_handle_events (test/c/posix_signals.c), and as real signals sent to
 * the `libusb-wasm run` process: a streaming program stopped with Ctrl-C
 * cancels, flushes and exits with its own status; a second Ctrl-C ends it
 * at once (test/c/posix_stream.c).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, TESTS, start, until, type Started } from './helpers.js';
import type { RunOptions, SignalName } from '../ts/runner/node/index.js';

const SIGNALS = path.join(TESTS, 'posix_signals.js');
const TRANSPORTS: [string, Omit<RunOptions, 'program'>][] = [
  ['sim', { transport: 'sim', devices: ['loopback'] }],
  ['webusb', { transport: { kind: 'webusb', devices: ['loopback'] } }],
];

/** A stdin the test writes to as the program runs. */
function typedStdin() {
  const chunks: (string | null)[] = [];
  let wake: (() => void) | undefined;
  return {
    source: (async function* () {
      for (;;) {
        while (!chunks.length) await new Promise<void>((r) => (wake = r));
        const chunk = chunks.shift()!;
        if (chunk === null) return;
        yield chunk;
      }
    })(),
    type(text: string | null) {
      chunks.push(text);
      wake?.();
    },
  };
}

describe.each(TRANSPORTS)('signals from runProgram().signal() (%s, an event thread blocked in libusb)', (_name, transport) => {
  const run = (name: string, options: Omit<RunOptions, 'program'> = {}) => start(SIGNALS, { ...transport, ...options, args: ['--usb', name] });

  /** Run a case, send it `signals` once it is ready (and `before` resolves), and wait for its end. */
  async function signalled(name: string, signals: (SignalName | number)[], before?: (p: Started) => Promise<void>) {
    const p = run(name);
    await p.waitFor('ready');
    await before?.(p);
    for (const s of signals) p.signal(s);
    return p.outcome();
  }

  it('runs a handler installed with signal(), and sigsuspend returns after it', async () => {
    const r = await signalled('handler', ['SIGUSR1']);
    expect(r.stdout).toBe('ready\nPASS handler\nPASS usb-background\n');
    expect(r.code).toBe(0);
  });

  it('runs an SA_SIGINFO handler installed with sigaction(), with the signal in its siginfo', async () => {
    const r = await signalled('siginfo', [12]); // SIGUSR2, by number
    expect(r.stdout).toContain('PASS siginfo\nPASS usb-background');
    expect(r.code).toBe(0);
  });

  it('ends a program without a handler with 128 + the signal', async () => {
    expect((await signalled('default', ['SIGTERM'])).code).toBe(143);
  });

  it('leaves an ignored signal alone', async () => {
    const r = await signalled('ignore', ['SIGINT', 'SIGUSR1']);
    expect(r.stdout).toContain('PASS ignore');
    expect(r.code).toBe(0);
  });

  it('ends a wait for libusb events when the handler has run: the loop sees its flag', async () => {
    // once both contexts wait: the background thread's and main's
    const r = await signalled('events', ['SIGINT'],
      (p) => until(async () => (await p.host.waitingContexts()) >= 2, 15000, 'main() to wait for events'));
    expect(r.stdout).toContain('PASS events\nPASS usb-background');
    expect(r.code).toBe(0);
  });

  it('holds a blocked signal pending until it is unblocked', async () => {
    const r = await signalled('mask', ['SIGUSR1']);
    expect(r.stdout).toContain('PASS mask');
    expect(r.code).toBe(0);
  });

  it('hands a signal every thread blocks to the thread in sigwait', async () => {
    const r = await signalled('sigwait-thread', ['SIGTERM']);
    expect(r.stdout).toContain('PASS sigwait-thread\nPASS usb-background');
    expect(r.code).toBe(0);
  });

  it('restarts a read of stdin after SA_RESTART handlers, and fails it with EINTR after others', async () => {
    const stdin = typedStdin();
    const p = run('restart', { stdin: stdin.source });
    await p.waitFor(/ready restart\n(handled\n){2}/);
    stdin.type('abc\n');
    const r = await p.outcome();
    expect(r.stdout).toContain('PASS restart');
    expect(r.code).toBe(0);
  });
});

describe('signals the program raises itself', () => {
  it('raise() and kill(getpid()) run the handler at once; an ignored signal does nothing', async () => {
    const r = await start(SIGNALS, { transport: 'sim', args: ['raise'] }).outcome();
    expect(r.stdout).toBe('PASS raise\n');
  });

  it('raise() of a signal without handler ends the program with 128 + the signal', async () => {
    expect((await start(SIGNALS, { transport: 'sim', args: ['raise-default'] }).outcome()).code).toBe(140);
  });
});

describe('libusb-wasm run and real signals', () => {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'libusb-wasm-signals-'));
  afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

  /** `libusb-wasm run` as a child process; resolves `exited` with its status. */
  function cli(args: string[]) {
    const child = spawn(process.execPath, [path.join(ROOT, 'dist/cli.js'), 'run', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    return {
      child,
      exited,
      get stdout() { return stdout; },
      get stderr() { return stderr; },
      waitFor: (text: string) => until(() => stdout.includes(text), 20000, `"${text}" from the program; stdout: ${stdout}; stderr: ${stderr}`),
    };
  }

  it.each([['sim', []], ['webusb', ['--transport', 'webusb']]])(
    'Ctrl-C stops a streaming program (%s): it cancels its transfers, flushes its file and exits with its own status', async (_name, extra) => {
      const file = path.join(scratch, `stream-${_name}.bin`);
      const p = cli([...extra, '--devices', 'loopback', path.join(TESTS, 'posix_stream.js'), file]);
      await p.waitFor('streaming');
      p.child.kill('SIGINT');
      expect(await p.exited).toBe(3);
      const summary = /received (\d+) bytes, (\d+) transfers cancelled/.exec(p.stdout);
      expect(summary, p.stdout + p.stderr).not.toBeNull();
      const [received, cancelled] = [Number(summary![1]), Number(summary![2])];
      expect(cancelled).toBeGreaterThanOrEqual(1); // the status transfer, at least
      const data = fs.readFileSync(file);
      expect(data.length).toBe(received);
      expect(received).toBeGreaterThanOrEqual(4 * 16384);
      // the loopback's endless source: each transfer is bytes i & 0xff
      for (let i = 0; i < data.length; i += 16384) expect(data.subarray(i, i + 256)).toEqual(Buffer.from(Array.from({ length: 256 }, (_, k) => k)));
    });

  it('a second Ctrl-C ends a program whose handler does not', async () => {
    const p = cli(['--devices', 'loopback', path.join(TESTS, 'posix_stream.js'), path.join(scratch, 'stubborn.bin'), 'stubborn']);
    await p.waitFor('streaming');
    p.child.kill('SIGINT');
    await p.waitFor('got SIGINT, carrying on');
    p.child.kill('SIGINT');
    expect(await p.exited).toBe(130);
    expect(p.stderr).toContain('interrupted again: ending the program now');
  });

  it('SIGTERM ends a program without a handler with status 143', async () => {
    const p = cli(['--devices', 'loopback', SIGNALS, 'default']);
    await p.waitFor('ready');
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(143);
  });
});
