/**
 * USB/IP against Linux's own implementation, both ways, in one QEMU guest
 * (Debian's kernel, usbip-host, vhci-hcd, and the usbip/usbipd tools of
 * Debian's usbip package). The guest's only network is QEMU's restricted
 * user network with two paths, both on the host's loopback:
 *   host -> guest   127.0.0.1:<port> to the guest's usbipd (hostfwd);
 *   guest -> host   10.0.2.100:3240 to our usbip-serve on 127.0.0.1.
 *
 * Host imports: the usbip transport (through a tap that shows the wire)
 * takes the guest's dummy_hcd Gadget Zero and QEMU's own disk and keyboard;
 * upstream's listdevs, testlibusb and xusb run unmodified over it.
 * Guest imports: `usbip attach` in the guest takes simulated devices from
 * usbip-serve, and the guest's own drivers (usb-storage, usbhid) use them.
 *
 * One boot for the file. Run alone: npx vitest run test/qemu/usbip.test.ts
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { bootGuest, freePort, imageBlock, letOthersReachProject, makeDiskImage, type Guest } from './qemu.js';
import { startTap, type UsbipTap } from '../usbip-helpers.js';
import { EXAMPLES, TESTS, run } from '../helpers.js';
import { LoopbackDevice } from '../../ts/sim/models/loopback.js';
import { listExportedDevices } from '../../ts/transports/usbip/client-connection.js';
import { parseServerAddress } from '../../ts/transports/usbip/stream.js';
import { connectTcp } from '../../ts/transports/usbip/tcp.js';
import type { RunningUsbipServer } from '../../ts/runner/usbip/index.js';

const { startUsbipServer } = (await import('../../dist/usbip.js' as string)) as typeof import('../../ts/runner/usbip/index.js');
const { createContext, TransferError } = (await import('../../dist/api.js' as string)) as typeof import('../../ts/api/node.js');

const MODULE = path.join(path.dirname(new URL(import.meta.url).pathname), 'guest/usbip.mjs');
const KBD = '0627:0001';
const DISK = '46f4:0001';
const ZERO = { vendorId: 0x1209, productId: 0x000a };
const SKIP = !!process.env.LIBUSB_WASM_SKIP_QEMU;

let guest: Guest;
let dir: string;
let qemuDisk: Uint8Array;
let server: RunningUsbipServer;
const serverLog: string[] = [];
let tap: UsbipTap;
let busids: Record<string, string>;
const started = performance.now();

beforeAll(async () => {
  if (SKIP) return;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lw-usbip-qemu-'));
  qemuDisk = makeDiskImage(path.join(dir, 'qemu-disk.img'), 2048);
  // the simulated disk the guest will mount: ext2 holding a known file
  fs.mkdirSync(path.join(dir, 'files'));
  fs.writeFileSync(path.join(dir, 'files', 'hello.txt'), 'served by usbip-serve, mounted by the guest\n');
  execFileSync('mke2fs', ['-q', '-F', '-t', 'ext2', '-d', path.join(dir, 'files'), path.join(dir, 'sim-disk.img'), '8M']);
  server = await startUsbipServer({ devices: ['loopback', 'msc:blocks=16384,image=sim-disk.img', 'hid'], cwd: dir, port: 0, log: (m) => serverLog.push(m) });
  const hostPort = await freePort();
  letOthersReachProject();
  guest = await bootGuest({
    qemuArgs: ['-drive', `if=none,id=disk,format=raw,file=${path.join(dir, 'qemu-disk.img')},readonly=on`],
    devices: [{ id: 'kbd', device: 'usb-kbd' }, { id: 'stick', device: 'usb-storage,drive=disk' }],
    network: {
      hostForwards: [{ hostPort, guestPort: 3240 }],
      guestForwards: [{ guestAddress: '10.0.2.100', guestPort: 3240, hostPort: server.port }],
    },
  });
  busids = await guest.call<Record<string, string>>('exportDevices', [[KBD, DISK]], MODULE);
  tap = await startTap(hostPort);
}, 600_000);

afterAll(async () => {
  await tap?.close();
  await guest?.close();
  await server?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  if (!SKIP) process.stderr.write(`[qemu] test/qemu/usbip.test.ts took ${((performance.now() - started) / 1000).toFixed(0)} s, boot included\n`);
});

const overUsbip = () => ({ transport: 'usbip' as const, server: tap.server });

/**
 * Wait until usbipd lists every device the guest exports again: it lists
 * only devices no client holds, and after a client (the previous program)
 * lets one go, usbip-host resets it first (docs/usbip.md).
 */
async function allExported(except: string[] = []): Promise<void> {
  const want = Object.values(busids).filter((b) => !except.includes(b));
  const end = Date.now() + 60_000;
  for (;;) {
    const listed = (await listExportedDevices(connectTcp, parseServerAddress(tap.server)).catch(() => [])).map((d) => d.busid);
    if (want.every((b) => listed.includes(b))) return;
    if (Date.now() > end) throw new Error(`usbipd in the guest lists ${listed.join(', ')}, not all of ${want.join(', ')}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

// everything in the guest is slow (software emulation, a shared machine)
const SLOW = { timeout: 240_000 };

describe.skipIf(SKIP)("the usbip transport importing from the guest's usbipd", SLOW, () => {
  beforeEach(() => allExported());

  it('listdevs lists what usbipd exports: Gadget Zero, QEMU\'s disk and keyboard', async () => {
    const r = await run(path.join(EXAMPLES, 'listdevs.js'), overUsbip());
    expect(r.code, r.stderr).toBe(0);
    const ids = r.stdout.trim().split('\n').map((l) => l.split(' ')[0]).sort();
    expect(ids).toEqual(['0627:0001', '1209:000a', '46f4:0001']);
  });

  it('testlibusb reads every device\'s descriptors and strings', async () => {
    const r = await run(path.join(EXAMPLES, 'testlibusb.js'), overUsbip());
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/1209 - 000A speed: 480M\s+Manufacturer:\s+libusb-wasm\s+Product:\s+Gadget Zero/);
    expect(r.stdout).toMatch(/46F4 - 0001 speed: \S+\s+Manufacturer:\s+QEMU\s+Product:\s+QEMU USB HARDDRIVE/);
    expect(r.stdout).toMatch(/0627 - 0001 speed: \S+\s+Manufacturer:\s+QEMU\s+Product:\s+QEMU USB Keyboard/);
  });

  it("xusb reads INQUIRY, capacity and block 0 of QEMU's disk", async () => {
    const r = await run(path.join(EXAMPLES, 'xusb.js'), { ...overUsbip(), args: [DISK] });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('VID:PID:REV "QEMU    ":"QEMU HAR":"2.5+"');
    expect(r.stdout).toContain('Max LBA: 000007FF, Block Size: 00000200');
    const dump = [...r.stdout.matchAll(/^ {2}([0-9a-f]{8}) {2}((?:[0-9a-f]{2} ){16})/gm)]
      .flatMap((m) => m[2].trim().split(' ').map((b) => parseInt(b, 16)));
    expect(dump).toEqual(Array.from(imageBlock(qemuDisk, 0)));
  });

  it('reads 24 known blocks of QEMU\'s disk in one multi-packet transfer (test/c/realdev.c)', async () => {
    const r = await run(path.join(TESTS, 'realdev.js'), { ...overUsbip(), args: ['read-blocks', DISK, '1000', '24'] });
    expect(r.stdout).toContain(`data OK ${24 * 512}`);
    expect(r.stdout).toMatch(/csw OK 13 status 0/);
    const blocks = [...r.stdout.matchAll(/^block (\d+) ([0-9a-f]+)$/gm)];
    expect(blocks.map((b) => Number(b[1]))).toEqual(Array.from({ length: 24 }, (_, i) => 1000 + i));
    for (const b of blocks) expect(Buffer.from(b[2], 'hex')).toEqual(Buffer.from(imageBlock(qemuDisk, Number(b[1]))));
    expect(r.code).toBe(0);
  });

  it('Gadget Zero: configured on import, loopback byte-exact at 1, 511, 512 and 65536 bytes; a timeout and a cancel unlink the URB', async () => {
    const usb = await createContext(overUsbip());
    try {
      const device = (await usb.getDeviceList()).find((d) => d.vendorId === ZERO.vendorId && d.productId === ZERO.productId)!;
      expect(device).toBeDefined();
      const handle = await device.open();
      // usbip-host hands the device over unconfigured; the transport picked configuration 1, as an OS would
      expect(await handle.getConfiguration()).toBe(1);
      await handle.setConfiguration(2); // the Loopback function
      const loopback = device.configurations.find((c) => c.bConfigurationValue === 2)!;
      const endpoints = loopback.interfaces[0].altsettings[0].endpoints.map((e) => e.bEndpointAddress);
      const epIn = endpoints.find((e) => e & 0x80)!;
      const epOut = endpoints.find((e) => !(e & 0x80))!;
      await handle.claimInterface(0);
      for (const size of [1, 511, 512, 65536]) {
        const data = Uint8Array.from({ length: size }, (_, i) => (i * 7 + size) & 0xff);
        expect((await handle.bulkTransfer(epOut, data, { timeout: 10_000 })).actualLength).toBe(size);
        const back = await handle.bulkTransfer(epIn, size, { timeout: 10_000 });
        expect(back.data).toEqual(data);
      }

      // nothing queued: the IN transfer times out, and its URB is unlinked on the server
      const from = tap.sent.length;
      const timeout = await handle.bulkTransfer(epIn, 512, { timeout: 500 }).catch((e) => e);
      expect(timeout).toBeInstanceOf(TransferError);
      expect((timeout as InstanceType<typeof TransferError>).status).toBe('timed-out');
      const controller = new AbortController();
      const pending = handle.bulkTransfer(epIn, 512, { signal: controller.signal }).catch((e) => e);
      await new Promise((r) => setTimeout(r, 500));
      controller.abort();
      // libusb cancelled it: the promise rejects with the signal's reason (ts/api: TransferOptions.signal)
      expect((await pending as Error).name).toBe('AbortError');
      const sent = tap.sent.slice(from);
      const unlinks = sent.filter((m) => m.type === 'cmd-unlink');
      expect(unlinks).toHaveLength(2);
      for (const u of unlinks) expect(sent.find((m) => m.type === 'cmd-submit' && m.seqnum === u.unlinkSeqnum)).toMatchObject({ direction: 1 });
      // usbip-host says so in the guest's kernel log (stub_complete)
      const messages = await guest.call<string[]>('unlinkMessages', [], MODULE);
      expect(messages.length).toBeGreaterThanOrEqual(2);
      await handle.close();
    } finally {
      await usb.exit();
    }
  });

  it('`usbip unbind` in the middle of a transfer ends it with NO_DEVICE', async () => {
    const usb = await createContext(overUsbip());
    try {
      const device = (await usb.getDeviceList()).find((d) => d.vendorId === ZERO.vendorId && d.productId === ZERO.productId)!;
      const handle = await device.open();
      await handle.claimInterface(0);
      const epIn = device.configurations[0].interfaces[0].altsettings[0].endpoints.map((e) => e.bEndpointAddress).find((e) => e & 0x80)!;
      // configuration 1 is SourceSink: its IN endpoint always has data; take a transfer too large to finish
      const from = tap.sent.length;
      const pending = handle.bulkTransfer(epIn, 16 << 20, { timeout: 60_000 }).catch((e) => e);
      const end = Date.now() + 20_000;
      while (!tap.sent.slice(from).some((m) => m.type === 'cmd-submit' && m.direction === 1 && m.transferBufferLength === 16 << 20)) {
        if (Date.now() > end) throw new Error('the IN transfer did not reach the wire');
        await new Promise((r) => setTimeout(r, 50));
      }
      await guest.call('unbindExport', [busids.zero], MODULE);
      const error = await pending;
      expect(error).toBeInstanceOf(TransferError);
      expect((error as InstanceType<typeof TransferError>).status).toBe('no-device');
      await handle.close().catch(() => {});
    } finally {
      await usb.exit();
    }
  });
});

describe.skipIf(SKIP)("the guest's kernel importing from usbip-serve", SLOW, () => {
  it('`usbip attach`: lsusb -v shows exactly the descriptors the simulated device declares; detach releases it', async () => {
    const a = await guest.call<{ sysfs: string; port: number; ms: number }>('attach', ['10.0.2.100', '1-1', '1209:0001'], MODULE);
    expect(server.devices().find((d) => d.busid === '1-1')!.importedBy).toBeDefined();
    const model = new LoopbackDevice();
    const expected = Buffer.concat([model.descriptors.device, ...model.descriptors.configurations]).toString('hex');
    expect(await guest.call<string>('rawDescriptors', [a.sysfs], MODULE)).toBe(expected);
    const lsusb = (await guest.run(['lsusb', '-v', '-d', '1209:0001'])).stdout;
    expect(lsusb).toMatch(/idVendor\s+0x1209/);
    expect(lsusb).toMatch(/iProduct\s+\d+ Loopback/);
    expect(lsusb).toMatch(/iSerial\s+\d+ LB0001/);
    expect(lsusb).toMatch(/bEndpointAddress\s+0x83\s+EP 3 IN/);
    expect(lsusb).toMatch(/Transfer Type\s+Isochronous/);
    await guest.call('detach', [a.port, a.sysfs], MODULE);
    const end = Date.now() + 20_000;
    while (server.devices().find((d) => d.busid === '1-1')!.importedBy) {
      if (Date.now() > end) throw new Error(`usbip-serve did not release 1-1 after the detach:\n${serverLog.join('\n')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  it("the guest's usb-storage driver takes the simulated disk; the guest mounts it and reads a known file", async () => {
    const a = await guest.call<{ sysfs: string; port: number }>('attach', ['10.0.2.100', '1-2', '1209:0002'], MODULE);
    expect(await guest.call<string[]>('interfaceDrivers', [a.sysfs], MODULE)).toEqual(['usb-storage']);
    const r = await guest.call<{ disk: string; text: string }>('readFileFromDisk', [a.sysfs, 'hello.txt'], MODULE);
    expect(r.text).toBe('served by usbip-serve, mounted by the guest\n');
    await guest.call('detach', [a.port, a.sysfs], MODULE);
  });

  it("the HID model's input reports arrive on the guest's /dev/hidraw", async () => {
    const a = await guest.call<{ sysfs: string; port: number }>('attach', ['10.0.2.100', '1-3', '04d8:003f'], MODULE);
    expect(await guest.call<string[]>('interfaceDrivers', [a.sysfs], MODULE)).toEqual(['usbhid']);
    // report 1, command 0x37 (read the potentiometer): the model answers [0x37, low, high] on its interrupt IN endpoint
    const report = [1, 0x37, ...new Array(15).fill(0)];
    const r = await guest.call<{ node: string; input: number[] }>('hidrawExchange', [a.sysfs, report], MODULE);
    expect(r.input.slice(0, 4)).toEqual([1, 0x37, 0x55, 0x01]);
    expect(r.input).toHaveLength(17);
    await guest.call('detach', [a.port, a.sysfs], MODULE);
  });
});
