/**
 * The typed JS API (dist/api.js) from Node's main thread: a libusb context
 * in a worker, the real libusb doing the work, against simulated devices.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createContext, LibusbError, TransferError, type Context, type Device, type DeviceHandle } from '../dist/api.js';
import { LoopbackDevice } from '../ts/sim/models/loopback.js';
import { HID_DEMO_REPORT_DESCRIPTOR, hidDescriptor } from '../ts/sim/models/hid.js';
import { parseConfiguration } from '../ts/usb/config-parse.js';
import { until } from './helpers.js';

const VENDOR_OUT = 0x40;
const VENDOR_IN = 0xc0;
const Req = { WRITE_BUFFER: 1, READ_BUFFER: 2, HALT: 3, QUEUE_IN: 4, ISO_FAULTS: 5, UNPLUG_AFTER: 6 };

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected the promise to reject');
}

describe('a context with a loopback and a HID device', () => {
  let usb: Context;
  let loopback: Device;
  let hid: Device;
  const logs: string[] = [];

  beforeAll(async () => {
    usb = await createContext({ devices: ['loopback', 'hid'], logLevel: 'warning', onLog: (_level, m) => logs.push(m) });
    const list = await usb.getDeviceList();
    loopback = list.find((d) => d.vendorId === 0x1209 && d.productId === 0x0001)!;
    hid = list.find((d) => d.vendorId === 0x04d8)!;
  });
  afterAll(async () => {
    await usb?.exit();
  });

  it('lists the devices with libusb\'s parsed descriptors, extra bytes included', async () => {
    expect(usb.hasHotplug).toBe(true);
    expect(loopback).toBeDefined();
    expect(loopback.busNumber).toBe(1);
    expect(loopback.portNumbers).toEqual([1]);
    expect(loopback.speed).toBe('high');
    expect(hid.speed).toBe('full');
    expect(loopback.manufacturer).toBe('libusb-wasm');
    expect(loopback.product).toBe('Loopback');
    expect(loopback.serialNumber).toBe('LB0001');

    const model = new LoopbackDevice();
    const raw = model.descriptors.device;
    expect(loopback.deviceDescriptor).toMatchObject({
      bLength: 18, bDescriptorType: 1, bcdUSB: raw[2] | (raw[3] << 8), idVendor: 0x1209, idProduct: 0x0001,
      bNumConfigurations: 1, bMaxPacketSize0: raw[7],
    });
    const parsed = parseConfiguration(model.descriptors.configurations[0]);
    const config = loopback.configurations[0];
    expect(config.bConfigurationValue).toBe(parsed.value);
    expect(config.wTotalLength).toBe(model.descriptors.configurations[0].length);
    const alternates = config.interfaces.flatMap((i) => i.altsettings);
    expect(alternates.map((a) => [a.bInterfaceNumber, a.bAlternateSetting]))
      .toEqual(parsed.alternates.map((a) => [a.interfaceNumber, a.alternate]));
    expect(alternates.flatMap((a) => a.endpoints.map((e) => [e.bEndpointAddress, e.bmAttributes & 3, e.wMaxPacketSize])))
      .toEqual(parsed.alternates.flatMap((a) => a.endpoints.map((e) => [e.address, e.type, e.maxPacketSize])));
    expect(Array.from(config.interfaces[0].altsettings[0].extra)).toEqual([5, 0x24, 0x01, 0x10, 0x01]);
    // the HID descriptor reaches programs as the interface's extra bytes
    expect(Array.from(hid.configurations[0].interfaces[0].altsettings[0].extra))
      .toEqual(Array.from(hidDescriptor(HID_DEMO_REPORT_DESCRIPTOR.length)));
  });

  it('opens a device, reads strings and the BOS descriptor, and closes it', async () => {
    const h = await loopback.open();
    expect(await h.getConfiguration()).toBe(1);
    expect(await h.getStringDescriptor(loopback.deviceDescriptor.iProduct)).toBe('Loopback');
    expect(await h.getStringDescriptor(loopback.deviceDescriptor.iSerialNumber, 0x0409)).toBe('LB0001');
    const bos = await h.getBosDescriptor();
    expect(bos.bNumDeviceCaps).toBe(3);
    expect(bos.capabilities.map((c) => c.bDevCapabilityType)).toEqual([0x02, 0x04, 0x05]);
    expect(Array.from(bos.capabilities[1].data.subarray(1, 12))).toEqual(Array.from(new TextEncoder().encode('libusb-wasm')));
    await h.close();
  });

  it('reports libusb errors with their name and code', async () => {
    const h = await loopback.open();
    const e = await rejection(h.claimInterface(7));
    expect(e).toBeInstanceOf(LibusbError);
    expect((e as LibusbError).code).toBe(-5);
    expect((e as LibusbError).errorName).toBe('LIBUSB_ERROR_NOT_FOUND');
    // an endpoint outside the claimed interfaces
    const t = await rejection(h.bulkTransfer(0x81, 64));
    expect((t as LibusbError).errorName).toBe('LIBUSB_ERROR_NOT_FOUND');
    // BOS of a device without one stalls (LIBUSB_ERROR_PIPE)
    const hh = await hid.open();
    expect(((await rejection(hh.getBosDescriptor())) as LibusbError).errorName).toBe('LIBUSB_ERROR_PIPE');
    await hh.close();
    await h.close();
    // a closed handle is gone
    expect(((await rejection(h.getConfiguration())) as LibusbError).errorName).toBe('LIBUSB_ERROR_NOT_FOUND');
  });

  it('rejects bad arguments before they reach the worker', async () => {
    const h = await loopback.open();
    expect(() => h.bulkTransfer(0x81, new Uint8Array(4))).toThrow(TypeError);
    expect(() => h.bulkTransfer(0x01, 64)).toThrow(TypeError);
    await expect(h.controlTransfer({ bmRequestType: VENDOR_IN, bRequest: 2, wValue: 0, wIndex: 0 }, new Uint8Array(1))).rejects.toThrow(TypeError);
    await expect(h.bulkTransfer(0x01, new Uint8Array(1), { timeout: -1 })).rejects.toThrow(RangeError);
    await h.close();
  });

  describe('transfers', () => {
    let h: DeviceHandle;
    beforeAll(async () => {
      h = await loopback.open();
      await h.claimInterface(0);
    });
    afterAll(async () => {
      await h.close();
    });

    it('control transfers, OUT and IN', async () => {
      const data = new TextEncoder().encode('kept by the device');
      const w = await h.controlTransfer({ bmRequestType: VENDOR_OUT, bRequest: Req.WRITE_BUFFER, wValue: 0, wIndex: 0 }, data, { timeout: 1000 });
      expect(w).toEqual({ actualLength: data.length });
      const r = await h.controlTransfer({ bmRequestType: VENDOR_IN, bRequest: Req.READ_BUFFER, wValue: 0, wIndex: 0 }, 64);
      expect(new TextDecoder().decode(r.data)).toBe('kept by the device');
      expect(r.actualLength).toBe(data.length);
    });

    it('bulk and interrupt loopback', async () => {
      const data = Uint8Array.from({ length: 1500 }, (_, i) => (i * 13) & 0xff);
      expect((await h.bulkTransfer(0x01, data)).actualLength).toBe(1500);
      const r = await h.bulkTransfer(0x81, 2048, { timeout: 2000 });
      expect(r.actualLength).toBe(1500);
      expect(Array.from(r.data!)).toEqual(Array.from(data));
      await h.interruptTransfer(0x02, new Uint8Array([9, 8, 7]));
      expect(Array.from((await h.interruptTransfer(0x82, 64)).data!)).toEqual([9, 8, 7]);
    });

    it('many transfers in flight complete in order', async () => {
      const reads = Array.from({ length: 32 }, () => h.bulkTransfer(0x81, 512, { timeout: 5000 }));
      const writes = Array.from({ length: 32 }, (_, i) => h.bulkTransfer(0x01, new Uint8Array([i, i, i])));
      await Promise.all(writes);
      const results = await Promise.all(reads);
      expect(results.map((r) => r.data![0])).toEqual(Array.from({ length: 32 }, (_, i) => i));
    });

    it('a stall is a TransferError with LIBUSB_ERROR_PIPE, until clearHalt', async () => {
      await h.controlTransfer({ bmRequestType: VENDOR_OUT, bRequest: Req.HALT, wValue: 0, wIndex: 0x81 });
      const e = await rejection(h.bulkTransfer(0x81, 64, { timeout: 1000 })) as TransferError;
      expect(e).toBeInstanceOf(TransferError);
      expect(e.status).toBe('stall');
      expect(e.errorName).toBe('LIBUSB_ERROR_PIPE');
      expect(e.code).toBe(-9);
      await h.clearHalt(0x81);
      await h.bulkTransfer(0x01, new Uint8Array([1]));
      expect(Array.from((await h.bulkTransfer(0x81, 64, { timeout: 1000 })).data!)).toEqual([1]);
    });

    it('a transfer that gets no data times out as LIBUSB_ERROR_TIMEOUT', async () => {
      const e = await rejection(h.bulkTransfer(0x81, 64, { timeout: 50 })) as TransferError;
      expect(e).toBeInstanceOf(TransferError);
      expect(e.status).toBe('timed-out');
      expect(e.errorName).toBe('LIBUSB_ERROR_TIMEOUT');
      expect(e.actualLength).toBe(0);
    });

    it('an AbortSignal cancels a transfer; the endpoint keeps working', async () => {
      const ac = new AbortController();
      const pending = h.bulkTransfer(0x81, 64, { signal: ac.signal });
      setTimeout(() => ac.abort(), 20);
      const e = await rejection(pending) as Error;
      expect(e.name).toBe('AbortError');
      // aborted before it starts: rejected without reaching libusb
      await expect(h.bulkTransfer(0x81, 64, { signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' });
      // a custom reason is what the promise rejects with
      const ac2 = new AbortController();
      const p2 = h.bulkTransfer(0x81, 64, { signal: ac2.signal });
      ac2.abort(new Error('user gave up'));
      await expect(p2).rejects.toThrow('user gave up');
      await h.bulkTransfer(0x01, new Uint8Array([42]));
      expect(Array.from((await h.bulkTransfer(0x81, 64, { timeout: 1000 })).data!)).toEqual([42]);
    });

    it('aborts racing completions lose and duplicate nothing', async () => {
      // each round: an IN transfer, one byte sent to it, and an abort, at random moments;
      // a transfer the data reached resolves with it, one aborted first rejects
      const received: number[] = [];
      const rounds = 150;
      for (let i = 0; i < rounds; i++) {
        const ac = new AbortController();
        const read = h.bulkTransfer(0x81, 64, { signal: ac.signal }).then(
          (r) => received.push(...r.data!),
          (e: Error) => expect(e.name).toBe('AbortError'),
        );
        const send = async () => {
          if (Math.random() < 0.5) await new Promise((r) => setTimeout(r, Math.random() * 2));
          await h.bulkTransfer(0x01, new Uint8Array([i]));
        };
        const abort = async () => {
          if (Math.random() < 0.5) await new Promise((r) => setTimeout(r, Math.random() * 2));
          ac.abort();
        };
        await Promise.all([read, send(), abort()]);
      }
      // what no transfer took is still on the device
      for (;;) {
        try {
          received.push(...(await h.bulkTransfer(0x81, 64, { timeout: 50 })).data!);
        } catch (e) {
          expect((e as TransferError).status).toBe('timed-out');
          break;
        }
      }
      expect(received.sort((a, b) => a - b)).toEqual(Array.from({ length: rounds }, (_, i) => i));
    });

    it('isochronous transfers in alternate setting 1, with per-packet status', async () => {
      await h.claimInterface(1);
      await expect(h.isochronousTransfer(0x83, [16])).rejects.toMatchObject({ errorName: 'LIBUSB_ERROR_NOT_FOUND' });
      await h.setInterfaceAltSetting(1, 1);
      const packets = [new Uint8Array([1, 2, 3]), new Uint8Array([4, 5]), new Uint8Array(0), new Uint8Array([6])];
      const out = await h.isochronousTransfer(0x03, packets, { timeout: 1000 });
      expect(out.packets.map((p) => [p.status, p.actualLength])).toEqual([['completed', 3], ['completed', 2], ['completed', 0], ['completed', 1]]);
      const r = await h.isochronousTransfer(0x83, [8, 8, 8, 8], { timeout: 1000 });
      expect(r.packets.map((p) => Array.from(p.data!))).toEqual([[1, 2, 3], [4, 5], [], [6]]);
      // the device fails packet 1 of the next transfer
      await h.controlTransfer({ bmRequestType: VENDOR_OUT, bRequest: Req.ISO_FAULTS, wValue: 0b10, wIndex: 0 });
      const faulty = await h.isochronousTransfer(0x83, [4, 4, 4], { timeout: 1000 });
      expect(faulty.packets.map((p) => p.status)).toEqual(['completed', 'error', 'completed']);
      await h.controlTransfer({ bmRequestType: VENDOR_OUT, bRequest: Req.ISO_FAULTS, wValue: 0, wIndex: 0 });
      await h.setInterfaceAltSetting(1, 0);
      await h.releaseInterface(1);
    });
  });

  it('kernel drivers: detach usbhid, claim, release, attach', async () => {
    const h = await hid.open();
    expect(await h.kernelDriverActive(0)).toBe(true);
    await expect(h.claimInterface(0)).rejects.toMatchObject({ errorName: 'LIBUSB_ERROR_BUSY' });
    await h.detachKernelDriver(0);
    expect(await h.kernelDriverActive(0)).toBe(false);
    await h.claimInterface(0);
    // hidtest's feature report, through the API this time
    const report = new Uint8Array(17);
    report.set([2, 0x11, 0x22]);
    await h.controlTransfer({ bmRequestType: 0x21, bRequest: 0x09, wValue: 0x0302, wIndex: 0 }, report);
    const back = await h.controlTransfer({ bmRequestType: 0xa1, bRequest: 0x01, wValue: 0x0302, wIndex: 0 }, 64);
    expect(Array.from(back.data!.subarray(0, 3))).toEqual([2, 0x11, 0x22]);
    await h.releaseInterface(0);
    await h.attachKernelDriver(0);
    expect(await h.kernelDriverActive(0)).toBe(true);
    await h.resetDevice();
    await h.close();
  });

  it('closing a handle cancels its transfers in flight', async () => {
    const h = await loopback.open();
    await h.claimInterface(0);
    const outcome = rejection(h.bulkTransfer(0x81, 64));
    await new Promise((r) => setTimeout(r, 20));
    await h.close();
    const e = await outcome as TransferError;
    expect(e).toBeInstanceOf(TransferError);
    expect(e.status).toBe('cancelled');
  });

  it('forwards libusb\'s log messages at the chosen level', async () => {
    logs.length = 0;
    await usb.setLogLevel('debug');
    const h = await loopback.open();
    await h.close();
    await usb.setLogLevel('warning');
    // log lines travel on their own port: they may land just after the call that caused them
    await until(() => logs.some((m) => m.includes('libusb: debug [libusb_open]')), 5000, 'the debug log of libusb_open');
    await new Promise((r) => setTimeout(r, 50));
    const n = logs.length;
    const again = await loopback.open();
    await again.close();
    await new Promise((r) => setTimeout(r, 50));
    expect(logs.slice(n)).toEqual([]);
  });
});

describe('hotplug', () => {
  it('dispatches connect and disconnect events; a transfer in flight ends with no-device', async () => {
    const usb = await createContext({ transport: 'sim' });
    try {
      expect(await usb.getDeviceList()).toEqual([]);
      const connected = new Promise<Device>((resolve) => usb.addEventListener('connect', (e) => resolve(e.device), { once: true }));
      const index = await usb.sim!.plug('loopback');
      const device = await connected;
      expect(device.productId).toBe(0x0001);
      expect((await usb.getDeviceList()).map((d) => d.id)).toEqual([device.id]);

      const h = await device.open();
      await h.claimInterface(0);
      // in flight before the device goes: transfers reach the shim in order, and
      // the device unplugs itself 50 ms after the control transfer completes
      const pending = rejection(h.bulkTransfer(0x81, 64));
      const disconnected = new Promise<Device>((resolve) => usb.addEventListener('disconnect', (e) => resolve(e.device), { once: true }));
      await h.controlTransfer({ bmRequestType: VENDOR_OUT, bRequest: Req.UNPLUG_AFTER, wValue: 50, wIndex: 0 });
      const e = await pending as TransferError;
      expect(e.status).toBe('no-device');
      expect(e.errorName).toBe('LIBUSB_ERROR_NO_DEVICE');
      expect(await disconnected).toBe(device);
      await expect(device.open()).rejects.toMatchObject({ errorName: 'LIBUSB_ERROR_NO_DEVICE' });
      await h.close();
      // and a device the runner unplugs
      const hidArrived = new Promise<Device>((resolve) => usb.addEventListener('connect', (ev) => resolve(ev.device), { once: true }));
      await usb.sim!.plug('hid');
      const hidDevice = await hidArrived;
      expect((await usb.getDeviceList()).map((d) => d.product)).toEqual(['Simple HID Device Demo']);
      const gone = new Promise<Device>((resolve) => usb.addEventListener('disconnect', (ev) => resolve(ev.device), { once: true }));
      await usb.sim!.unplug((await usb.sim!.list()).findIndex((d) => d.plugged));
      expect(await gone).toBe(hidDevice);
      expect(index).toBe(0);
    } finally {
      await usb.exit();
    }
  });
});

describe('the context\'s lifetime', () => {
  it('fails calls after exit with LIBUSB_ERROR_NO_DEVICE, and exit twice is fine', async () => {
    const usb = await createContext({ devices: ['loopback'] });
    const [d] = await usb.getDeviceList();
    const h = await d.open();
    await usb.exit();
    await usb.exit();
    const e = await rejection(h.getConfiguration()) as LibusbError;
    expect(e).toBeInstanceOf(LibusbError);
    expect(e.errorName).toBe('LIBUSB_ERROR_NO_DEVICE');
    expect(e.message).toMatch(/worker has ended/);
  });

  it('with noDeviceDiscovery lists nothing', async () => {
    const usb = await createContext({ devices: ['loopback'], noDeviceDiscovery: true });
    try {
      expect(await usb.getDeviceList()).toEqual([]);
    } finally {
      await usb.exit();
    }
  });
});

describe('keeping Node running', () => {
  /** Run a script that imports the built API as `api`; resolves with its output once the process has ended by itself. */
  async function script(body: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const api = new URL('../dist/api.js', import.meta.url).href;
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'lw-keepalive-')), 'script.mjs');
    fs.writeFileSync(file, `import * as api from '${api}';\n${body}`);
    const child = spawn(process.execPath, [file]);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    // a process that does not end by itself is what these tests look for: give it a generous while, then end it
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    clearTimeout(timer);
    return { code, stdout, stderr };
  }

  it('keepAlive: false lets the process end with the context open, after the call in flight completes', async () => {
    const r = await script(`
      const usb = await api.createContext({ devices: ['loopback'], keepAlive: false });
      const [d] = await usb.getDeviceList();
      const h = await d.open();
      await h.claimInterface(0);
      // nothing to read: this transfer times out; the process must stay until it does
      await h.bulkTransfer(0x81, 64, { timeout: 1500 }).catch((e) => console.log('in flight until', e.errorName));
      console.log('done, no exit()');
    `);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('in flight until LIBUSB_ERROR_TIMEOUT\ndone, no exit()\n');
    expect(r.code).toBe(0);
  }, 90_000);

  it('unref() on an open context does the same, and ref() undoes it', async () => {
    const r = await script(`
      const usb = await api.createContext({ devices: ['loopback'] });
      usb.unref();
      usb.ref();
      usb.unref();
      console.log('devices', (await usb.getDeviceList()).length);
    `);
    expect(r.stdout).toBe('devices 1\n');
    expect(r.code).toBe(0);
  }, 90_000);

  it('by default the context keeps the process running until exit()', async () => {
    const r = await script(`
      const usb = await api.createContext({ devices: ['loopback'] });
      console.log('devices', (await usb.getDeviceList()).length);
      // still running 2 s later only if the context holds the process: then end it properly
      setTimeout(async () => { console.log('still running'); await usb.exit(); }, 2000).unref();
    `);
    expect(r.stdout).toBe('devices 1\nstill running\n');
    expect(r.code).toBe(0);
  }, 90_000);
});
