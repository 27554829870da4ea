/**
 * Faults are contained: whatever a transport answers or throws, whatever
 * never answers, and a host that dies, end as libusb errors and statuses
 * for the program concerned; the host goes on serving the rest.
 *
 * The faults come from a navigator.usb-shaped object that misbehaves
 * (test/fixtures/faulty-usb.mjs, through the webusb transport's usbModule,
 * as `libusb-wasm run --transport webusb --usb-module` takes it), and the
 * program is a plain libusb program (test/c/faults.c).
 */
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT, TESTS, run, start } from './helpers.js';

const FAULTS = path.join(TESTS, 'faults.js');
const FAULTY_USB = path.join(ROOT, 'test/fixtures/faulty-usb.mjs');
const LOOPBACK = '1209:0001';

/** Run faults.c over the faulty navigator.usb with one fault switched on. */
function withFault(fault: string, args: string[], extra: { callTimeoutMs?: number } = {}) {
  process.env.LIBUSB_WASM_TEST_FAULT = fault; // the host's worker, started now, inherits it
  try {
    return start(FAULTS, { args, transport: { kind: 'webusb', usbModule: FAULTY_USB }, ...extra });
  } finally {
    delete process.env.LIBUSB_WASM_TEST_FAULT;
  }
}

/** Host diagnostics about a transport's answer (one line each). */
const diagnostics = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('libusb-wasm host:') || l.startsWith('webusb:'));

afterEach(() => {
  delete process.env.LIBUSB_WASM_TEST_FAULT;
});

describe('whatever a transport answers, the transfer completes with a sane status', () => {
  const inCases: [string, string][] = [
    ['in-undefined', 'LIBUSB_ERROR_IO'],
    ['in-null-object', 'LIBUSB_ERROR_IO'],
    ['in-unprintable', 'LIBUSB_ERROR_IO'],
    ['in-odd', 'LIBUSB_ERROR_IO'],
    ['in-throws', 'LIBUSB_ERROR_IO'],
  ];
  for (const [fault, first] of inCases) {
    it(`${fault}: ${first}, and the next transfer works`, async () => {
      // queue 4 bytes first so that the second IN has data: an OUT, then the INs
      const p = withFault(fault, ['in', LOOPBACK, '0x81', '64', '2']);
      const r = await p.outcome();
      expect(r.stdout, r.stderr).toContain(`in 0 ${first} transferred 0`);
      // the host kept serving: the second transfer reached the device (it times out: nothing was queued)
      expect(r.stdout).toContain('in 1 LIBUSB_ERROR_TIMEOUT transferred 0');
      expect(r.code).toBe(0);
      expect(diagnostics(r.stderr).length, r.stderr).toBeGreaterThan(0);
    });
  }

  const outCases: [string, string, number][] = [
    ['out-negative', 'OK', 0], // a negative count is clamped to 0
    ['out-fraction', 'OK', 3], // whole bytes
    ['out-huge', 'OK', 64], // no more than the buffer
    ['out-status', 'LIBUSB_ERROR_IO', 0], // a status WebUSB does not have is an error, not an overflow
  ];
  for (const [fault, first, written] of outCases) {
    it(`${fault}: ${first} with ${written} bytes, and the next transfer works`, async () => {
      const r = await withFault(fault, ['out', LOOPBACK, '0x01', '64', '2']).outcome();
      expect(r.stdout, r.stderr).toContain(`out 0 ${first} transferred ${written}`);
      expect(r.stdout).toContain('out 1 OK transferred 64');
      expect(r.code).toBe(0);
      expect(r.stderr).not.toMatch(/Assertion|abort/i);
    });
  }

  it('iso-nonsense: each packet gets a status, nothing crashes', async () => {
    const r = await withFault('iso-nonsense', ['iso', LOOPBACK, '0x83', '3', '16']).outcome();
    expect(r.stdout, r.stderr).toContain('submit OK');
    // a packet with data that is not bytes, a missing packet, a status WebUSB does not have: errors (1), no data
    expect(r.stdout).toMatch(/packet 0 status 1 actual 0/);
    expect(r.stdout).toMatch(/packet 1 status 1 actual 0/);
    expect(r.stdout).toMatch(/packet 2 status 1 actual 0/);
    expect(r.code).toBe(0);
  });
});

describe('a device that never answers', () => {
  it('is skipped at enumeration with a message; libusb_init and the other devices go on', async () => {
    const r = await withFault('open-hang', ['list'], { callTimeoutMs: 400 }).outcome();
    expect(r.stdout, r.stderr).toContain('init OK');
    expect(r.stdout).toContain('device 1209:0002');
    expect(r.stdout).not.toContain('device 1209:0001');
    expect(r.stderr).toMatch(/skipping device .*did not answer open\(\) within 400 ms/);
    expect(r.code).toBe(0);
  });

  it('fails its claim with LIBUSB_ERROR_TIMEOUT; the program goes on', async () => {
    const r = await withFault('claim-hang', ['claim', LOOPBACK, '0'], { callTimeoutMs: 400 }).outcome();
    expect(r.stdout, r.stderr).toMatch(/claim 0 LIBUSB_ERROR_TIMEOUT after \d+ ms/);
    expect(r.stdout).toContain('device 1209:0002');
    expect(r.code).toBe(0);
  });

  it('does not hold up a kill', async () => {
    const p = withFault('claim-hang', ['claim', LOOPBACK, '0'], { callTimeoutMs: 60_000 });
    await p.waitFor('open 1209:0001 OK');
    const t0 = performance.now();
    await p.kill();
    const killed = performance.now() - t0;
    expect(await p.exited).toBe(137);
    process.stderr.write(`[faults] kill with a claim pending at the transport: ${killed.toFixed(0)} ms; `
      + `exited (its private host stopped) after ${(performance.now() - t0).toFixed(0)} ms\n`);
  });
});

describe('a host that dies', () => {
  for (const mode of ['hold', 'hold-async']) {
    it(`${mode}: pending and new calls end with NO_DEVICE; the program's status is not 0`, async () => {
      const p = withFault('crash', [mode, LOOPBACK, '0x81', '20000']);
      const r = await p.outcome();
      // the transfer did not wait for its 20 s timeout
      const ended = /hold (?:LIBUSB_ERROR_NO_DEVICE|status 5) after (\d+) ms/.exec(r.stdout);
      expect(ended, r.stdout + r.stderr).not.toBeNull();
      expect(Number(ended![1])).toBeLessThan(15_000);
      expect(r.stdout).toMatch(/after: altsetting LIBUSB_ERROR_NO_DEVICE/);
      expect(r.stderr).toMatch(/the transport host is gone/);
      expect(r.code).not.toBe(0);
      process.stderr.write(`[faults] ${mode}: the host died, the transfer ended after ${ended![1]} ms (including the 50 ms before the crash)\n`);
    });
  }
});

describe('a host that dies under a program waiting for hotplug events', () => {
  it('every device leaves the program (its callbacks hear it); the program, still waiting for an arrival, is ended', async () => {
    process.env.LIBUSB_WASM_TEST_FAULT = 'crash-soon';
    let p;
    try {
      p = start(path.join(ROOT, 'build/examples/hotplugtest.js'), { args: ['0x1209', '0x0001'], transport: { kind: 'webusb', usbModule: FAULTY_USB } });
    } finally {
      delete process.env.LIBUSB_WASM_TEST_FAULT;
    }
    const r = await p.outcome();
    // the loopback device left with the host (hotplugtest waits for an arrival first, which cannot come now)
    expect(r.stdout, r.stderr).toMatch(/Device detached: 1209:0001/);
    expect(r.stderr).toMatch(/the transport host is gone/);
    expect(r.stderr).toMatch(/did not end within 5 s of losing its transport host; ending it/);
    expect(r.code).not.toBe(0);
  });
});

describe('a program the host refused never reports status 0', () => {
  it('a device model that does not exist', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await run(FAULTS, { args: ['list'], devices: ['no-such-model'] });
      expect(r.code, r.stdout + r.stderr).not.toBe(0);
      expect(r.stderr).toMatch(/unknown device model 'no-such-model'/);
    }
  });

  it('a shared host that has ended', async () => {
    const { createHost } = (await import('../dist/node.js' as string)) as typeof import('../ts/runner/node/index.js');
    const host = createHost({ devices: ['loopback'] });
    await host.close();
    const r = await run(FAULTS, { args: ['list'], host });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/transport host/);
  });
});
