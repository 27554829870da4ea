/**
 * Transfer semantics, tested by a C program (test/c/transfer_semantics.c)
 * against the simulated loopback device: one test per case.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { TESTS, run } from './helpers.js';

const cases = ['short', 'zlp', 'overflow', 'stall', 'timeout', 'cancel', 'iso', 'inflight64', 'unplug'];

describe('transfer semantics (C, against the loopback device)', () => {
  for (const name of cases) {
    it(name, async () => {
      const r = await run(path.join(TESTS, 'transfer_semantics.js'), { devices: ['loopback'], args: [name] });
      expect(r.stdout.trim()).toBe(`PASS ${name}`);
      expect(r.code).toBe(0);
    });
  }

  it('reports a case that does not exist', async () => {
    const r = await run(path.join(TESTS, 'transfer_semantics.js'), { devices: ['loopback'], args: ['nonsense'] });
    expect(r.stdout).toContain('FAIL no such test');
    expect(r.code).toBe(100);
  });
});

describe('libusb from several pthreads (C, test/c/threads.c)', () => {
  for (const name of ['concurrent_sync', 'event_thread', 'interrupt_handler', 'hotplug_enumerate']) {
    it(name, async () => {
      const r = await run(path.join(TESTS, 'threads.js'), { devices: ['loopback'], args: [name] });
      expect(r.stdout.trim()).toBe(`PASS ${name}`);
      expect(r.code).toBe(0);
    });
  }
});
