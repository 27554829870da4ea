/**
 * Timers and waiting behave as on Linux inside programs
 * (test/c/posix_timers.c: one case per call), on every transport, while
 * another thread of the program is blocked in libusb_handle_events with a
 * transfer pending.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { TESTS, run } from './helpers.js';
import type { RunOptions } from '../ts/runner/node/index.js';

const PROGRAM = path.join(TESTS, 'posix_timers.js');
const CASES = ['setitimer', 'getitimer', 'alarm', 'pause', 'sigsuspend', 'sigwait', 'sigtimedwait', 'nanosleep', 'usleep', 'sleep'];
const TRANSPORTS: [string, Omit<RunOptions, 'program'>][] = [
  ['sim', { transport: 'sim', devices: ['loopback'] }],
  ['webusb', { transport: { kind: 'webusb', devices: ['loopback'] } }],
];

describe.each(TRANSPORTS)('timers and waiting (%s)', (_name, transport) => {
  it('each call, with an event thread blocked in libusb the whole time', async () => {
    const r = await run(PROGRAM, { ...transport, args: ['--usb', ...CASES] });
    expect(r.stdout.trim().split('\n'), r.stderr).toEqual([...CASES.map((c) => `PASS ${c}`), 'PASS usb-background']);
    expect(r.code).toBe(0);
  });
});

it('SIGALRM without a handler ends the program with 128 + 14', async () => {
  const r = await run(PROGRAM, { transport: 'sim', args: ['alarm-default'] });
  expect(r.code).toBe(142);
  expect(r.stdout).toBe('');
});
