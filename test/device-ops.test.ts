/**
 * Device operations (test/c/device_ops.c) against the simulated loopback
 * device, and devices with broken descriptors.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXAMPLES, ROOT, TESTS, run } from './helpers.js';

const prog = path.join(TESTS, 'device_ops.js');
const cases: [string, string][] = [
  ['enumerate', 'loopback'],
  ['descriptors', 'loopback'],
  ['configuration', 'loopback'],
  ['claim', 'loopback'],
  ['altsetting', 'loopback'],
  ['kernel_none', 'loopback'],
  ['kernel_bound', 'loopback:kernelDrivers=0'],
  ['reset', 'loopback'],
  ['reset_reenumerate', 'loopback:reenumerateOnReset=true'],
  ['no_discovery', 'loopback'],
];

/** Cases that check what WebUSB cannot give (docs/webusb.md lists them); each is tested on sim. */
const WEBUSB_CANNOT: Record<string, string> = {
  enumerate: 'WebUSB does not tell a device\'s speed (libusb reports LIBUSB_SPEED_UNKNOWN)',
  configuration: 'WebUSB cannot put a device in the unconfigured state (libusb_set_configuration(-1): NOT_SUPPORTED)',
  kernel_bound: 'WebUSB says nothing of kernel drivers',
};

/** Every case on every transport that reaches simulated devices: directly, and through WebUSB (SimUSB, Chrome's rules). */
const transports = {
  sim: (device: string) => ({ transport: 'sim' as const, devices: [device] }),
  webusb: (device: string) => ({ transport: { kind: 'webusb' as const, devices: [device], protectedClasses: [] } }),
};

for (const [transport, options] of Object.entries(transports)) {
  describe(`device operations (C, against the loopback device, ${transport})`, () => {
    for (const [name, device] of cases) {
      if (transport === 'webusb' && name in WEBUSB_CANNOT) continue;
      it(name, async () => {
        const r = await run(prog, { ...options(device), args: [name] });
        expect(r.stdout.trim(), r.stderr).toBe(`PASS ${name}`);
        expect(r.code).toBe(0);
      });
    }
  });
}

describe('a device with malformed descriptors', () => {
  it('is reported and skipped; the other devices stay usable', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lw-bad-'));
    const mod = path.join(dir, 'bad-devices.mjs');
    // a configuration descriptor whose wTotalLength claims more than it has,
    // and a device descriptor with a wrong bLength
    fs.writeFileSync(mod, `
      import { LoopbackDevice } from ${JSON.stringify(path.join(ROOT, 'dist/sim.js'))};
      export default () => {
        const truncated = new LoopbackDevice({ serialNumber: 'BAD1' });
        const cfg = truncated.descriptors.configurations[0].slice(0, 4);
        const short = new LoopbackDevice({ serialNumber: 'BAD1', rawDescriptors: { configurations: [cfg] } });
        const dev = new LoopbackDevice().descriptors.device.slice();
        dev[0] = 17;
        const wrongLength = new LoopbackDevice({ serialNumber: 'BAD2', rawDescriptors: { device: dev } });
        return [short, wrongLength];
      };`);
    const r = await run(path.join(EXAMPLES, 'listdevs.js'), { devices: ['msc'], deviceModule: mod });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('1209:0002');
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/skipping device at bus 1 address \d+: .*configuration 0/);
    expect(r.stderr).toMatch(/skipping device at bus 1 address \d+: invalid device descriptor/);
  });
});
