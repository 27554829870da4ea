/**
 * libusb 1.0.30's own examples and tests, compiled unmodified, against the
 * simulated devices through the real runner.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXAMPLES, TESTS, run, start, until } from './helpers.js';
import { LoopbackDevice } from '../ts/sim/models/loopback.js';
import { parseConfiguration } from '../ts/usb/config-parse.js';

const prog = (name: string) => path.join(EXAMPLES, `${name}.js`);

describe('listdevs', () => {
  it('lists every simulated device with its bus, address and port path', async () => {
    const r = await run(prog('listdevs'), { devices: ['loopback', 'msc', 'fx2'] });
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n').sort();
    expect(lines).toEqual([
      '04b4:8613 (bus 1, device 3) path: 3',
      '1209:0001 (bus 1, device 1) path: 1',
      '1209:0002 (bus 1, device 2) path: 2',
    ]);
  });

  it('lists nothing when there are no devices', async () => {
    const r = await run(prog('listdevs'), { transport: 'sim' });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
  });
});

describe('testlibusb', () => {
  it('dumps exactly the descriptors the simulated device declares', async () => {
    const r = await run(prog('testlibusb'), { devices: ['loopback'], args: ['-v'] });
    expect(r.code).toBe(0);
    const model = new LoopbackDevice();
    const raw = model.descriptors.configurations[0];
    const config = parseConfiguration(raw);
    const field = (name: string) => [...r.stdout.matchAll(new RegExp(`^\\s+${name}:\\s+(\\S+)`, 'gm'))].map((m) => m[1]);

    expect(r.stdout).toContain('Dev (bus 1, device 1): 1209 - 0001 speed: 480M');
    expect(r.stdout).toMatch(/Manufacturer:\s+libusb-wasm/);
    expect(r.stdout).toMatch(/Product:\s+Loopback/);
    expect(r.stdout).toMatch(/Serial Number:\s+LB0001/);
    expect(field('wTotalLength')[0]).toBe(String(raw[2] | (raw[3] << 8)));
    expect(field('bConfigurationValue')).toEqual([String(config.value)]);
    expect(field('bInterfaceNumber')).toEqual(config.alternates.map((a) => String(a.interfaceNumber)));
    expect(field('bAlternateSetting')).toEqual(config.alternates.map((a) => String(a.alternate)));
    expect(field('bInterfaceClass')).toEqual(config.alternates.map((a) => String(a.interfaceClass)));
    const eps = config.alternates.flatMap((a) => a.endpoints);
    expect(field('bEndpointAddress')).toEqual(eps.map((e) => `${e.address.toString(16).padStart(2, '0')}h`));
    expect(field('wMaxPacketSize')).toEqual(eps.map((e) => String(e.maxPacketSize)));
    // the BOS descriptor set, read from the device
    expect(r.stdout).toMatch(/Binary Object Store \(BOS\):\s+wTotalLength:\s+(\d+)\s+bNumDeviceCaps:\s+3/);
    expect(Number(/Binary Object Store \(BOS\):\s+wTotalLength:\s+(\d+)/.exec(r.stdout)![1])).toBe(model.descriptors.bos!.length);
  });
});

describe('xusb', () => {
  it('reads INQUIRY, capacity and block 0 of the mass-storage device', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lw-xusb-'));
    const image = new Uint8Array(4096 * 512);
    for (let i = 0; i < 512; i++) image[i] = (i * 7 + 3) & 0xff;
    fs.writeFileSync(path.join(dir, 'disk.img'), image);
    const r = await run(prog('xusb'), {
      cwd: dir,
      devices: ['msc:blocks=4096,image=disk.img,vendor=ACME,product=TESTDISK,revision=2.50'],
      args: ['1209:0002'],
    });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('VID:PID:REV "ACME    ":"TESTDISK":"2.50"');
    expect(r.stdout).toContain('Max LBA: 00000FFF, Block Size: 00000200');
    expect(r.stdout).toContain('READ: received 512 bytes');
    expect((r.stdout.match(/Mass Storage Status: 00 \(Success\)/g) ?? []).length).toBe(3);
    // xusb's hex dump of block 0 equals the image
    const dump = [...r.stdout.matchAll(/^ {2}([0-9a-f]{8}) {2}((?:[0-9a-f]{2} ){16})/gm)]
      .flatMap((m) => m[2].trim().split(' ').map((b) => parseInt(b, 16)));
    expect(dump).toEqual(Array.from(image.subarray(0, 512)));
  });

  it('walks the loopback device: descriptors, BOS, strings, claims', async () => {
    const r = await run(prog('xusb'), { devices: ['loopback'], args: ['-i', '1209:0001'] });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('VID:PID: 1209:0001');
    expect(r.stdout).toContain('Reading BOS descriptor: 3 caps');
    expect(r.stdout).toContain('String (0x02): "Loopback"');
    expect(r.stdout).toContain('Kernel driver attached for interface 0: none');
    expect(r.stdout).not.toMatch(/Failed/);
    expect(r.stdout).toContain('Closing device...');
  });

  it('fails cleanly when the device is not there', async () => {
    const r = await run(prog('xusb'), { devices: [], args: ['1234:5678'] });
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toContain('Failed');
  });
});

describe('fxload', () => {
  it('loads an Intel-hex image that the FX2 receives byte for byte', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lw-fxload-'));
    const segments = [
      { address: 0x0000, data: Uint8Array.from({ length: 300 }, (_, i) => (i * 13 + 1) & 0xff) },
      { address: 0x1800, data: Uint8Array.from({ length: 37 }, (_, i) => (255 - i) & 0xff) },
    ];
    fs.writeFileSync(path.join(dir, 'fw.hex'), intelHex(segments));
    const r = await run(prog('fxload'), { cwd: dir, devices: ['fx2'], args: ['-t', 'fx2lp', '-i', 'fw.hex'] });
    expect(r.code).toBe(0);
    const fx2 = r.devices[0] as { cpuRunning: boolean; starts: number; segments: { address: number; data: number[] }[] };
    expect(fx2.segments).toEqual(segments.map((s) => ({ address: s.address, data: Array.from(s.data) })));
    expect(fx2.cpuRunning).toBe(true);
    expect(fx2.starts).toBe(1);
  });

  it('reports a missing firmware file', async () => {
    const r = await run(prog('fxload'), { devices: ['fx2'], args: ['-t', 'fx2lp', '-i', '/nonexistent/fw.hex'] });
    expect(r.code).not.toBe(0);
    const fx2 = r.devices[0] as { segments: unknown[] };
    expect(fx2.segments).toEqual([]);
  });
});

describe('hotplugtest', () => {
  it('sees a simulated plug and unplug, then exits 0', async () => {
    const p = start(prog('hotplugtest'), { transport: 'sim' });
    await until(() => p.sim.waitingContexts().then((n) => n > 0), 15000, 'hotplugtest to wait for events');
    const index = await p.sim.plug('loopback');
    await p.waitFor('Device attached: 1209:0001');
    await p.sim.unplug(index);
    const r = await p.outcome();
    expect(r.stdout).toContain('Device detached: 1209:0001');
    expect(r.code).toBe(0);
  });
});

describe("libusb's own tests", () => {
  for (const name of ['stress', 'stress_mt', 'set_option', 'init_context']) {
    it(`${name} passes`, async () => {
      const r = await run(path.join(TESTS, `${name}.js`), { devices: ['loopback', 'msc', 'fx2'] });
      expect(r.stderr).not.toMatch(/Failed|FAIL/);
      expect(r.code).toBe(0);
      if (name === 'stress_mt') expect(r.stdout).toContain('All threads discovered 3 devices (0 not opened)');
      if (name !== 'stress_mt') expect(r.stdout).toMatch(/Failed 0 tests/);
    }, 120_000);
  }
});

/** Intel-hex records (16 bytes each) for a set of segments. */
function intelHex(segments: { address: number; data: Uint8Array }[]): string {
  const lines: string[] = [];
  const rec = (addr: number, type: number, bytes: number[]) => {
    const all = [bytes.length, addr >> 8, addr & 0xff, type, ...bytes];
    const sum = (0x100 - (all.reduce((a, b) => a + b, 0) & 0xff)) & 0xff;
    lines.push(':' + [...all, sum].map((b) => b.toString(16).padStart(2, '0').toUpperCase()).join(''));
  };
  for (const s of segments) {
    for (let off = 0; off < s.data.length; off += 16) rec(s.address + off, 0, Array.from(s.data.subarray(off, off + 16)));
  }
  rec(0, 1, []);
  return lines.join('\n') + '\n';
}
