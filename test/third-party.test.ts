/**
 * Third-party C code built with its own build system against libusb-wasm
 * (scripts/third-party/*.sh, run by `make third-party`): hidapi 0.13.1 from
 * Debian's source package, unmodified, with its libusb backend, built with
 * autotools and with CMake; and two small projects that find libusb with
 * pkg-config. They run under the runner against simulated devices.
 */
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT, run } from './helpers.js';

const HIDAPI = path.join(ROOT, 'build/third-party/hidapi');
const PROJECTS = path.join(ROOT, 'build/third-party/projects');
const hidtests = {
  autotools: path.join(HIDAPI, 'autotools/hidtest/hidtest-libusb'),
  cmake: path.join(HIDAPI, 'cmake/hidtest/hidtest.js'),
};

beforeAll(() => {
  for (const p of [...Object.values(hidtests), path.join(PROJECTS, 'autotools/listdevs'), path.join(PROJECTS, 'cmake/listdevs.js')]) {
    if (!fs.existsSync(p)) throw new Error(`${p} is missing: run 'make third-party' (scripts/third-party/*.sh) first`);
  }
});

/** hidtest's hex dumps: "Feature Report\n   02 a0 ..." and "Data read:\n   01 81 ...". */
function dump(stdout: string, title: string): number[] {
  const m = new RegExp(`${title}\\s*\\n\\s+((?:[0-9a-f]{2} )+)`).exec(stdout);
  if (!m) throw new Error(`no '${title}' dump in:\n${stdout}`);
  return m[1].trim().split(' ').map((b) => parseInt(b, 16));
}

for (const [buildSystem, program] of Object.entries(hidtests)) {
  describe(`hidapi's hidtest built with ${buildSystem}`, () => {
    it('enumerates the HID device, reads its strings and exchanges feature, output and input reports', async () => {
      const r = await run(program, { devices: ['hid'] });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('Compiled with hidapi version 0.13.1, runtime version 0.13.1');
      // hid_enumerate
      expect(r.stdout).toMatch(/Device Found\n {2}type: 04d8 003f\n {2}path: 1-1:1\.0\n {2}serial_number: 12345/);
      expect(r.stdout).toMatch(/Manufacturer: libusb-wasm\n {2}Product: {6}Simple HID Device Demo\n {2}Release: {6}2\n {2}Interface: {4}0/);
      // string descriptors through the open device
      expect(r.stdout).toContain('Manufacturer String: libusb-wasm');
      expect(r.stdout).toContain('Product String: Simple HID Device Demo');
      expect(r.stdout).toContain('Serial Number String: (49) 12345');
      expect(r.stdout).toContain('Indexed String 1: libusb-wasm');
      // hid_get_device_info parsed the report descriptor read with GET_DESCRIPTOR(REPORT)
      expect(r.stdout).toContain('Usage (page): 0x1 (0xff00)');
      // SET_REPORT(FEATURE 2) then GET_REPORT(FEATURE 2): the device kept what hidtest sent
      expect(dump(r.stdout, 'Feature Report')).toEqual([0x02, 0xa0, 0x0a, ...new Array(14).fill(0)]);
      // output report 0x81 on the interrupt OUT endpoint, answer on interrupt IN: button released
      expect(dump(r.stdout, 'Data read:')).toEqual([0x01, 0x81, 0x01, ...new Array(14).fill(0)]);
      expect(r.stdout).not.toMatch(/Unable to|unable to/);

      const [device] = r.devices as { ledsOn: boolean; feature: number[]; outputs: number[][]; kernelDrivers: Record<string, string> }[];
      expect(device.ledsOn).toBe(true); // command 0x80 toggled them once
      expect(device.outputs.map((o) => o[0])).toEqual([0x80, 0x81]);
      expect(device.feature.slice(0, 3)).toEqual([0xa0, 0x0a, 0x00]);
      // hidapi detached usbhid to claim the interface and re-attached it at hid_close
      expect(device.kernelDrivers).toEqual({ 0: 'usbhid' });
    });

    it("reports the device's state: a pressed button reads 0x00", async () => {
      const r = await run(program, { devices: ['hid:buttonPressed=true'] });
      expect(r.code).toBe(0);
      expect(dump(r.stdout, 'Data read:').slice(0, 3)).toEqual([0x01, 0x81, 0x00]);
    });

    it('finds no device to open when none is plugged in', async () => {
      const r = await run(program, { devices: ['loopback'] });
      expect(r.stdout).not.toContain('Device Found');
      expect(r.stdout).toContain('unable to open device');
      expect(r.code).toBe(1);
    });
  });
}

describe('projects that find libusb with pkg-config and nothing else', () => {
  for (const [buildSystem, program] of [['autotools', 'autotools/listdevs'], ['CMake', 'cmake/listdevs.js']]) {
    it(`${buildSystem}: libusb's listdevs lists the simulated devices`, async () => {
      const r = await run(path.join(PROJECTS, program), { devices: ['loopback', 'hid'] });
      expect(r.code).toBe(0);
      expect(r.stdout.trim().split('\n').sort()).toEqual([
        '04d8:003f (bus 1, device 2) path: 2',
        '1209:0001 (bus 1, device 1) path: 1',
      ]);
    });
  }
});
