/**
 * USB/IP in Node, both ends ours: `usbip-serve` exports simulated devices
 * (dist/usbip.js), and libusb programs reach them through the usbip
 * transport (dist/node.js, dist/api.js) over TCP, through a tap that shows
 * what went over the wire and can cut the connections. The same C programs
 * and checks as on the local transports: libusb semantics must not change
 * because the device is on another machine.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXAMPLES, ROOT, TESTS, run, until } from './helpers.js';
import { startTap, type UsbipTap } from './usbip-helpers.js';
import type { RunningUsbipServer, UsbipServeOptions } from '../ts/runner/usbip/index.js';

const { startUsbipServer } = (await import('../dist/usbip.js' as string)) as typeof import('../ts/runner/usbip/index.js');
const { createContext, TransferError } = (await import('../dist/api.js' as string)) as typeof import('../ts/api/node.js');

const CLI = path.join(ROOT, 'dist/cli.js');
const LOOPBACK = { vendorId: 0x1209, productId: 0x0001 };

async function serve(options: UsbipServeOptions, logs: string[] = []): Promise<RunningUsbipServer> {
  return startUsbipServer({ port: 0, log: (m) => logs.push(m), ...options });
}

describe('the usbip transport against usbip-serve', () => {
  let dir: string;
  let image: Uint8Array;
  let server: RunningUsbipServer;
  let tap: UsbipTap;
  const serverLog: string[] = [];
  const msc = 'msc:blocks=4096,image=disk.img,vendor=ACME,product=TESTDISK,revision=2.50';

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lw-usbip-'));
    image = new Uint8Array(4096 * 512);
    for (let i = 0; i < image.length; i++) image[i] = (i * 7 + 3) & 0xff;
    fs.writeFileSync(path.join(dir, 'disk.img'), image);
    server = await serve({ devices: ['loopback', msc, 'hid'], cwd: dir }, serverLog);
    tap = await startTap(server.port);
  });
  afterAll(async () => {
    await tap?.close();
    await server?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const over = () => ({ transport: 'usbip' as const, server: tap.server });

  it('listdevs lists the exported devices where the server has them', async () => {
    const r = await run(path.join(EXAMPLES, 'listdevs.js'), over());
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n').sort()).toEqual([
      '04d8:003f (bus 1, device 3) path: 3',
      '1209:0001 (bus 1, device 1) path: 1',
      '1209:0002 (bus 1, device 2) path: 2',
    ]);
    expect(server.devices().map((d) => d.busid)).toEqual(['1-1', '1-2', '1-3']);
  });

  it('testlibusb prints exactly what it prints for the same devices on the sim transport', async () => {
    const remote = await run(path.join(EXAMPLES, 'testlibusb.js'), over());
    const local = await run(path.join(EXAMPLES, 'testlibusb.js'), { devices: ['loopback', msc, 'hid'], cwd: dir });
    expect(remote.code).toBe(0);
    expect(remote.stdout).toMatch(/Dev \(bus 1, device 2\): 1209 - 0002 speed: 480M\s+Manufacturer: +libusb-wasm\s+Product: +Simulated Disk/);
    expect(remote.stdout).toBe(local.stdout);
  });

  it("xusb reads INQUIRY, capacity and a known block of the mass-storage device", async () => {
    const r = await run(path.join(EXAMPLES, 'xusb.js'), { ...over(), args: ['1209:0002'] });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('VID:PID:REV "ACME    ":"TESTDISK":"2.50"');
    expect(r.stdout).toContain('Max LBA: 00000FFF, Block Size: 00000200');
    const dump = [...r.stdout.matchAll(/^ {2}([0-9a-f]{8}) {2}((?:[0-9a-f]{2} ){16})/gm)]
      .flatMap((m) => m[2].trim().split(' ').map((b) => parseInt(b, 16)));
    expect(dump).toEqual(Array.from(image.subarray(0, 512)));
  });

  describe('transfer semantics (test/c/transfer_semantics.c)', () => {
    for (const name of ['short', 'zlp', 'overflow', 'stall', 'timeout', 'cancel', 'iso', 'iso_ok', 'inflight64']) {
      it(name, async () => {
        const r = await run(path.join(TESTS, 'transfer_semantics.js'), { ...over(), args: [name] });
        expect(r.stdout.trim()).toBe(`PASS ${name}`);
        expect(r.code).toBe(0);
      });
    }
  });

  it('a cancel and a timeout are USBIP_CMD_UNLINKs of the URB in flight', async () => {
    for (const name of ['cancel', 'timeout']) {
      const from = tap.sent.length;
      const r = await run(path.join(TESTS, 'transfer_semantics.js'), { ...over(), args: [name] });
      expect(r.stdout.trim()).toBe(`PASS ${name}`);
      const sent = tap.sent.slice(from);
      const unlinks = sent.filter((m) => m.type === 'cmd-unlink');
      expect(unlinks.length).toBeGreaterThan(0);
      for (const u of unlinks) {
        const target = sent.find((m) => m.type === 'cmd-submit' && m.seqnum === u.unlinkSeqnum);
        expect(target).toMatchObject({ type: 'cmd-submit', direction: 1, endpoint: 1 });
      }
    }
  });

  describe('device operations (test/c/device_ops.c)', () => {
    for (const name of ['enumerate', 'descriptors', 'configuration', 'claim', 'altsetting', 'kernel_none', 'reset']) {
      it(name, async () => {
        const r = await run(path.join(TESTS, 'device_ops.js'), { ...over(), args: [name] });
        expect(r.stdout.trim()).toBe(`PASS ${name}`);
        expect(r.code).toBe(0);
      });
    }
  });

  it('bulk loopback is byte-exact at 1, 511, 512 and 65536 bytes, and the server releases the device after', async () => {
    const usb = await createContext(over());
    try {
      const device = (await usb.getDeviceList()).find((d) => d.vendorId === LOOPBACK.vendorId && d.productId === LOOPBACK.productId)!;
      const handle = await device.open();
      expect(server.devices().find((d) => d.busid === '1-1')!.importedBy).toMatch(/^127\.0\.0\.1:\d+$/);
      await handle.claimInterface(0);
      for (const size of [1, 511, 512, 65536]) {
        const data = Uint8Array.from({ length: size }, (_, i) => (i * 13 + size) & 0xff);
        expect((await handle.bulkTransfer(0x01, data, { timeout: 5000 })).actualLength).toBe(size);
        const back = await handle.bulkTransfer(0x81, size, { timeout: 5000 });
        expect(back.data).toEqual(data);
      }
      await handle.close();
    } finally {
      await usb.exit();
    }
    await until(() => !server.devices().find((d) => d.busid === '1-1')!.importedBy, 10_000, 'the server to release 1-1');
  });

  it('a dropped connection ends the transfers in flight with NO_DEVICE; the device leaves, and comes back', async () => {
    const usb = await createContext(over());
    try {
      const events: string[] = [];
      usb.addEventListener('connect', () => events.push('connect'));
      usb.addEventListener('disconnect', () => events.push('disconnect'));
      const device = (await usb.getDeviceList()).find((d) => d.vendorId === LOOPBACK.vendorId && d.productId === LOOPBACK.productId)!;
      const handle = await device.open();
      await handle.claimInterface(0);
      const from = tap.sent.length;
      const pending = handle.bulkTransfer(0x81, 512).then(() => 'completed', (e) => e);
      await until(() => tap.sent.slice(from).some((m) => m.type === 'cmd-submit' && m.endpoint === 1 && m.direction === 1), 10_000,
        'the IN transfer to reach the wire');
      tap.dropAll();
      const error = await pending;
      expect(error).toBeInstanceOf(TransferError);
      expect((error as InstanceType<typeof TransferError>).status).toBe('no-device');
      await until(() => events.includes('disconnect'), 10_000, 'the departure');
      await until(() => events.lastIndexOf('connect') > events.indexOf('disconnect'), 15_000, 'the device to come back');
      await handle.close().catch(() => {});
    } finally {
      await usb.exit();
    }
  });

  it('devices plugged into and unplugged from the server arrive and leave', async () => {
    const usb = await createContext(over());
    try {
      const seen: string[] = [];
      usb.addEventListener('connect', (e) => seen.push(`+${(e as unknown as { device: { serialNumber?: string } }).device.serialNumber}`));
      usb.addEventListener('disconnect', (e) => seen.push(`-${(e as unknown as { device: { serialNumber?: string } }).device.serialNumber}`));
      const index = await server.sim!.plug('loopback:serialNumber=HOT1');
      await until(() => seen.includes('+HOT1'), 15_000, 'the arrival');
      server.sim!.unplug(index);
      await until(() => seen.includes('-HOT1'), 15_000, 'the departure');
    } finally {
      await usb.exit();
    }
  });

  it('a device another client holds is busy: left out of the list, offered once it is free', async () => {
    const first = await createContext(over());
    const logs: string[] = [];
    try {
      const device = (await first.getDeviceList()).find((d) => d.vendorId === LOOPBACK.vendorId && d.productId === LOOPBACK.productId)!;
      const handle = await device.open();
      const second = await createContext({ ...over(), stderr: (l) => logs.push(l) });
      try {
        const list = await second.getDeviceList();
        expect(list.some((d) => d.vendorId === LOOPBACK.vendorId && d.productId === LOOPBACK.productId)).toBe(false);
        // the host's log line comes on its own way (a message port): wait for it
        await until(() => /refused to export 1-1 \(status 2: busy/.test(logs.join('\n')), 10_000, `the refusal in the log (so far: ${logs.join(' | ')})`);
        await handle.close();
        await until(async () => (await second.getDeviceList()).some((d) => d.productId === LOOPBACK.productId), 20_000, 'the device to be offered again');
      } finally {
        await second.exit();
      }
    } finally {
      await first.exit();
    }
  });
});

describe('usbip-serve on its own', () => {
  it('exports only the devices its filters match', async () => {
    const server = await serve({ devices: ['loopback', 'msc', 'hid'], filters: [{ classCode: 0x08 }, { vendorId: 0x04d8 }] });
    try {
      expect(server.devices().map((d) => [d.busid, d.productId])).toEqual([['1-2', 0x0002], ['1-3', 0x003f]]);
      const r = await run(path.join(EXAMPLES, 'listdevs.js'), { transport: 'usbip', server: `127.0.0.1:${server.port}` });
      expect(r.stdout).not.toContain('1209:0001');
      expect(r.stdout).toContain('1209:0002');
    } finally {
      await server.close();
    }
  });

  it('a device that leaves during a transfer ends it with NO_DEVICE (transfer_semantics unplug)', async () => {
    const server = await serve({ devices: ['loopback'] });
    try {
      const r = await run(path.join(TESTS, 'transfer_semantics.js'), { transport: 'usbip', server: `127.0.0.1:${server.port}`, args: ['unplug'] });
      expect(r.stdout.trim()).toBe('PASS unplug');
      expect(r.stderr).toMatch(/the device has left/);
    } finally {
      await server.close();
    }
  });

  it('a reset after which the device re-enumerates is LIBUSB_ERROR_NOT_FOUND', async () => {
    const server = await serve({ devices: ['loopback:reenumerateOnReset=true'] });
    try {
      const r = await run(path.join(TESTS, 'device_ops.js'), { transport: 'usbip', server: `127.0.0.1:${server.port}`, args: ['reset_reenumerate'] });
      expect(r.stdout.trim()).toBe('PASS reset_reenumerate');
    } finally {
      await server.close();
    }
  });

  it('a server that is not there: no devices, and the reason on stderr', async () => {
    const r = await run(path.join(EXAMPLES, 'listdevs.js'), { transport: 'usbip', server: '127.0.0.1:1' });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/127\.0\.0\.1:1: connection refused/);
  });
});

describe('the CLI', () => {
  const cli = (args: string[], timeoutMs = 30_000) => new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });

  it('usbip-serve exports, `run --server` imports, SIGINT stops the server', async () => {
    const child = spawn(process.execPath, [CLI, 'usbip-serve', '--devices', 'loopback,msc', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    try {
      await until(() => /listening on 127\.0\.0\.1:(\d+)/.test(stderr), 20_000, 'usbip-serve to listen');
      expect(stderr).toContain('exporting 1-1 (1209:0001), 1-2 (1209:0002)');
      const port = /listening on 127\.0\.0\.1:(\d+)/.exec(stderr)![1];
      const r = await cli(['run', '--transport', 'usbip', '--server', `127.0.0.1:${port}`, path.join(EXAMPLES, 'listdevs.js')]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('1209:0002 (bus 1, device 2)');
    } finally {
      child.kill('SIGINT');
    }
    expect(await exited).toBe(0);
  });

  it('says what is wrong with a command line', async () => {
    const noServer = await cli(['run', '--transport', 'usbip', path.join(EXAMPLES, 'listdevs.js')]);
    expect(noServer.code).toBe(2);
    expect(noServer.stderr).toContain('--transport usbip needs --server host[:port]');
    const badPort = await cli(['usbip-serve', '--port', 'x']);
    expect(badPort.code).toBe(2);
    expect(badPort.stderr).toContain('--port x is not a TCP port');
    const badFilter = await cli(['usbip-serve', '--filter', 'class=8']);
    expect(badFilter.code).toBe(2);
    expect(badFilter.stderr).toMatch(/--filter: 'class=8' is not one of vendorId=/);
    const noAllow = await cli(['usbip-bridge']);
    expect(noAllow.code).toBe(2);
    expect(noAllow.stderr).toContain('give at least one --allow HOST[:PORT]');
  });
});
