/**
 * The webusb transport in Node, over the simulated devices behind
 * navigator.usb's shape: first the adapter on its own (error mapping,
 * cancellation, waiting out state changes), then real libusb programs
 * through the real runner with `transport: { kind: 'webusb' }`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXAMPLES, ROOT, TESTS, run, start, until } from './helpers.js';
import { intelHex } from './intel-hex.js';
import { ErrorCode, TransferStatus, TransferType } from '../ts/usb/constants.js';
import { SimBus } from '../ts/sim/bus.js';
import { LoopbackDevice, LoopbackRequest } from '../ts/sim/models/loopback.js';
import { MassStorageDevice } from '../ts/sim/models/mass-storage.js';
import { SimUSB } from '../ts/sim/webusb/sim-usb.js';
import { WebUsbTransport } from '../ts/transports/webusb/index.js';
import { controlErrorCode, transferErrorStatus } from '../ts/transports/webusb/errors.js';
import { TransportError, type TransferRequest, type TransportDevice } from '../ts/transports/transport.js';
import { buildTransport } from '../ts/runner/common/transports.js';
import type { USBConnectionEventLike, USBLike } from '../ts/transports/webusb/types.js';

const prog = (name: string) => path.join(EXAMPLES, `${name}.js`);
const webusb = (devices: string[], more: { protectedClasses?: number[] } = {}) =>
  ({ transport: { kind: 'webusb' as const, devices, ...more } });

describe('DOMException to libusb', () => {
  it('maps every control-plane exception to a specific error', () => {
    const table: [string, boolean, number][] = [
      ['NotFoundError', false, ErrorCode.NOT_FOUND],
      ['NotFoundError', true, ErrorCode.NO_DEVICE],
      ['NetworkError', false, ErrorCode.BUSY], // the claim's own failure code
      ['NetworkError', true, ErrorCode.NO_DEVICE],
      ['SecurityError', false, ErrorCode.ACCESS],
      ['InvalidStateError', false, ErrorCode.BUSY],
      ['AbortError', false, ErrorCode.INTERRUPTED],
      ['TimeoutError', false, ErrorCode.TIMEOUT],
      ['NotSupportedError', false, ErrorCode.NOT_SUPPORTED],
      ['TypeError', false, ErrorCode.INVALID_PARAM],
      ['RangeError', false, ErrorCode.INVALID_PARAM],
      ['IndexSizeError', false, ErrorCode.INVALID_PARAM],
      ['InvalidAccessError', false, ErrorCode.INVALID_PARAM],
      ['DataError', false, ErrorCode.INVALID_PARAM],
    ];
    for (const [name, gone, code] of table) expect([name, gone, controlErrorCode(name, ErrorCode.BUSY, gone)]).toEqual([name, gone, code]);
  });

  it('maps every transfer rejection to a transfer status', () => {
    expect(transferErrorStatus('AbortError', false)).toBe(TransferStatus.CANCELLED);
    expect(transferErrorStatus('TimeoutError', false)).toBe(TransferStatus.TIMED_OUT);
    expect(transferErrorStatus('NotFoundError', true)).toBe(TransferStatus.NO_DEVICE);
    expect(transferErrorStatus('NetworkError', true)).toBe(TransferStatus.NO_DEVICE);
    for (const name of ['NotFoundError', 'NetworkError', 'SecurityError', 'InvalidStateError', 'TypeError', 'DataError']) {
      expect([name, transferErrorStatus(name, false)]).toEqual([name, TransferStatus.ERROR]);
    }
  });
});

describe('the webusb adapter over the simulated devices', () => {
  async function loopback(options: { protectedClasses?: number[] } = {}) {
    const bus = new SimBus();
    const device = new LoopbackDevice();
    bus.plug(device);
    bus.plug(new MassStorageDevice());
    const transport = new WebUsbTransport(new SimUSB(bus, options), { log: () => {} });
    const [lb, msc] = await transport.getDevices();
    await lb.open();
    await lb.claimInterface(0);
    return { bus, device, transport, lb, msc };
  }
  const bulkIn = (length: number): TransferRequest =>
    ({ type: TransferType.BULK, endpoint: 0x81, length, zeroLengthPacket: false, timeout: 0 });
  const queueIn = (td: TransportDevice, bytes: number[]) => td.transfer({
    type: TransferType.CONTROL, endpoint: 0, length: bytes.length, zeroLengthPacket: false, timeout: 0,
    setup: { bmRequestType: 0x40, bRequest: LoopbackRequest.QUEUE_IN, wValue: 0, wIndex: 0x81, wLength: bytes.length },
    data: Uint8Array.from(bytes),
  });

  it('gives the data of a transfer libusb gave up on to the next one, never to the old one', async () => {
    const { lb } = await loopback();
    const abandoned = bulkIn(64);
    const first = Promise.resolve(lb.transfer(abandoned));
    await new Promise((r) => setTimeout(r, 10));
    expect(lb.cancel!(abandoned)).toBe(false); // WebUSB cannot cancel: the host completes it
    expect((await first).status).toBe(TransferStatus.CANCELLED);
    expect((await first).data).toBeUndefined();
    await queueIn(lb, [1, 2, 3]);
    const next = await lb.transfer(bulkIn(64));
    expect(next.status).toBe(TransferStatus.COMPLETED);
    expect([...next.data!]).toEqual([1, 2, 3]);
  });

  it('copies OUT data out of shared memory (WebUSB refuses SharedArrayBuffer views)', async () => {
    const { lb } = await loopback();
    const wasmLike = new Uint8Array(new SharedArrayBuffer(16));
    wasmLike.set([5, 6, 7], 4);
    const r = await lb.transfer({ type: TransferType.BULK, endpoint: 0x01, length: 3, data: wasmLike.subarray(4, 7), zeroLengthPacket: false, timeout: 0 });
    expect([r.status, r.bytesWritten]).toEqual([TransferStatus.COMPLETED, 3]);
    expect([...(await lb.transfer(bulkIn(64))).data!]).toEqual([5, 6, 7]);
  });

  it('holds transfers while a state change is in progress instead of failing them', async () => {
    const { lb } = await loopback();
    const claiming = lb.claimInterface(1); // Chrome refuses control transfers meanwhile
    const r = await lb.transfer({
      type: TransferType.CONTROL, endpoint: 0x80, length: 18, zeroLengthPacket: false, timeout: 0,
      setup: { bmRequestType: 0x80, bRequest: 6, wValue: 0x0100, wIndex: 0, wLength: 18 },
    });
    await claiming;
    expect(r.status).toBe(TransferStatus.COMPLETED);
    expect(r.data!.length).toBe(18);
  });

  it('turns refusals into libusb errors: protected class, unknown interface, unconfigure', async () => {
    const { msc, lb } = await loopback();
    await msc.open();
    const code = (p: Promise<unknown>) => p.then(() => 0, (e) => (e as TransportError).code);
    expect(await code(msc.claimInterface(0))).toBe(ErrorCode.ACCESS);
    expect(await code(lb.claimInterface(9))).toBe(ErrorCode.NOT_FOUND);
    expect(await code(lb.setConfiguration(0))).toBe(ErrorCode.NOT_SUPPORTED);
  });

  it('reports a device that leaves: NO_DEVICE for transfers, disconnect for hotplug', async () => {
    const { bus, device, transport, lb } = await loopback();
    const events: string[] = [];
    transport.watch((e) => events.push(e.type));
    const pending = Promise.resolve(lb.transfer(bulkIn(64)));
    bus.unplug(device);
    expect((await pending).status).toBe(TransferStatus.NO_DEVICE);
    expect(events).toEqual(['disconnect']);
    bus.plug(device);
    expect(events).toEqual(['disconnect', 'connect']);
  });
});

describe('a device that leaves, as Chrome on Linux reports it', () => {
  /** navigator.usb whose disconnect events come `lateMs` after the device's transfers failed (Chrome under load). */
  function lateDisconnects(usb: SimUSB, lateMs: number): USBLike {
    const wrapped = new Map<unknown, (e: USBConnectionEventLike) => void>();
    return {
      getDevices: () => usb.getDevices(),
      addEventListener(type, listener) {
        const late = (e: USBConnectionEventLike) => (type === 'disconnect' ? setTimeout(() => listener(e), lateMs) : listener(e));
        wrapped.set(listener, late);
        usb.addEventListener(type, late);
      },
      removeEventListener(type, listener) {
        usb.removeEventListener(type, wrapped.get(listener) ?? listener);
      },
    };
  }

  async function setup(lateMs: number) {
    const bus = new SimBus();
    const device = new LoopbackDevice();
    bus.plug(device);
    const transport = new WebUsbTransport(lateDisconnects(new SimUSB(bus), lateMs), { log: () => {} });
    const [lb] = await transport.getDevices();
    await lb.open();
    await lb.claimInterface(0);
    return { bus, device, lb };
  }

  it('ends a pending transfer with NO_DEVICE however late the disconnect event comes', async () => {
    const { bus, device, lb } = await setup(800);
    const pending = Promise.resolve(lb.transfer({ type: TransferType.BULK, endpoint: 0x81, length: 64, zeroLengthPacket: false, timeout: 0 }));
    await new Promise((r) => setTimeout(r, 10));
    bus.unplug(device);
    expect((await pending).status).toBe(TransferStatus.NO_DEVICE);
  });

  it('reports a transfer error at once while the device is still there', async () => {
    const bus = new SimBus();
    bus.plug(new LoopbackDevice());
    const [real] = await new SimUSB(bus).getDevices();
    // the platform fails every transferIn (NetworkError); the device still answers GET_STATUS
    const failing = new Proxy(real, {
      get: (target, key) => (key === 'transferIn'
        ? () => Promise.reject(new DOMException('A transfer error has occurred.', 'NetworkError'))
        : Reflect.get(target, key, target)),
    });
    const transport = new WebUsbTransport({ getDevices: async () => [failing], addEventListener() {}, removeEventListener() {} }, { log: () => {} });
    const [lb] = await transport.getDevices();
    await lb.open();
    await lb.claimInterface(0);
    const t0 = performance.now();
    const r = await lb.transfer({ type: TransferType.BULK, endpoint: 0x81, length: 64, zeroLengthPacket: false, timeout: 0 });
    expect(r.status).toBe(TransferStatus.ERROR);
    expect(performance.now() - t0).toBeLessThan(3000); // not the 5 s a departing device is waited for
  });
});

describe('transfers of the wrong type for their endpoint', () => {
  it('never reach the platform (the kernel refuses them; Chromium 156 crashes on an isochronous one)', async () => {
    const bus = new SimBus();
    bus.plug(new LoopbackDevice());
    const [real] = await new SimUSB(bus).getDevices();
    const calls: string[] = [];
    const watched = new Proxy(real, {
      get: (target, key) => {
        const v = Reflect.get(target, key, target);
        return typeof v === 'function' ? (...args: unknown[]) => {
          calls.push(String(key));
          return v.apply(target, args);
        } : v;
      },
    });
    const logs: string[] = [];
    const transport = new WebUsbTransport({ getDevices: async () => [watched], addEventListener() {}, removeEventListener() {} }, { log: (m) => logs.push(m) });
    const [lb] = await transport.getDevices();
    await lb.open();
    await lb.claimInterface(0);
    await lb.claimInterface(1);
    await lb.setAlternateSetting(1, 1);
    calls.length = 0;
    const iso = (endpoint: number) => lb.transfer({
      type: TransferType.ISOCHRONOUS, endpoint, length: 64, isoPacketLengths: [64], data: new Uint8Array(64), zeroLengthPacket: false, timeout: 0,
    });
    const bulk = (endpoint: number) => lb.transfer({ type: TransferType.BULK, endpoint, length: 64, data: new Uint8Array(64), zeroLengthPacket: false, timeout: 0 });
    expect((await iso(0x81)).status).toBe(TransferStatus.ERROR); // bulk IN
    expect((await iso(0x01)).status).toBe(TransferStatus.ERROR); // bulk OUT
    expect((await bulk(0x03)).status).toBe(TransferStatus.ERROR); // isochronous OUT
    expect(calls).toEqual([]);
    expect(logs[0]).toBe('webusb: an isochronous transfer to endpoint 0x81, a bulk endpoint: refused');
    // the right types still go through
    expect((await iso(0x03)).status).toBe(TransferStatus.COMPLETED);
    expect((await bulk(0x01)).status).toBe(TransferStatus.COMPLETED);
    expect(calls).toEqual(['isochronousTransferOut', 'transferOut']);
  });
});

describe('transfer semantics through the webusb transport (C)', () => {
  for (const name of ['short', 'zlp', 'overflow', 'stall', 'timeout', 'cancel', 'iso_ok', 'inflight64', 'unplug']) {
    it(name, async () => {
      const r = await run(path.join(TESTS, 'transfer_semantics.js'), { ...webusb(['loopback']), args: [name] });
      expect(r.stdout.trim()).toBe(`PASS ${name}`);
      expect(r.code).toBe(0);
    });
  }

  it('iso: a failed packet fails the whole transfer, as Chrome reports it', async () => {
    const r = await run(path.join(TESTS, 'transfer_semantics.js'), { ...webusb(['loopback']), args: ['iso'] });
    expect(r.stdout.trim()).toBe('FAIL iso: iso status 1');
  });
});

describe('results delivered as tasks (resultDelivery: \'task\', as Chrome delivers WebUSB results)', () => {
  it('reaches the simulated navigator.usb from the transport spec: microtasks alone never see an answer', async () => {
    const { transport } = await buildTransport({ kind: 'webusb', devices: ['loopback'], protectedClasses: [], resultDelivery: 'task' }, { log: () => {} });
    const [device] = await transport.getDevices();
    await device.open();
    await device.claimInterface(0);
    let settled = false;
    const sent = Promise.resolve(device.transfer({ type: TransferType.BULK, endpoint: 0x01, data: new Uint8Array(4), length: 4, zeroLengthPacket: false, timeout: 1000 }))
      .then((r) => ((settled = true), r));
    for (let i = 0; i < 200 && !settled; i++) await null;
    expect(settled).toBe(false);
    expect((await sent).bytesWritten).toBe(4);
    await transport.close?.();
  });

  for (const name of ['short', 'timeout', 'cancel', 'inflight64', 'unplug']) {
    it(`libusb's transfer semantics hold: ${name}`, async () => {
      const r = await run(path.join(TESTS, 'transfer_semantics.js'), {
        transport: { kind: 'webusb', devices: ['loopback'], resultDelivery: 'task' }, args: [name],
      });
      expect(r.stdout.trim()).toBe(`PASS ${name}`);
      expect(r.code).toBe(0);
    });
  }
});

describe('libusb programs through the webusb transport', () => {
  it('listdevs: every device, at the synthetic locations WebUSB gets', async () => {
    const r = await run(prog('listdevs'), webusb(['loopback', 'msc', 'fx2']));
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n').sort()).toEqual([
      '04b4:8613 (bus 1, device 3) path: 3',
      '1209:0001 (bus 1, device 1) path: 1',
      '1209:0002 (bus 1, device 2) path: 2',
    ]);
  });

  it('testlibusb: descriptors read with GET_DESCRIPTOR through WebUSB control transfers', async () => {
    const r = await run(prog('testlibusb'), { ...webusb(['loopback']), args: ['-v'] });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Dev (bus 1, device 1): 1209 - 0001 speed: Unknown');
    expect(r.stdout).toMatch(/Serial Number:\s+LB0001/);
    expect(r.stdout).toMatch(/Binary Object Store \(BOS\):\s+wTotalLength:\s+\d+\s+bNumDeviceCaps:\s+3/);
    expect([...r.stdout.matchAll(/bEndpointAddress:\s+(\S+)/g)].map((m) => m[1])).toEqual(['01h', '81h', '02h', '82h', '03h', '83h']);
  });

  it('xusb: a mass-storage device where the protected class is allowed', async () => {
    const r = await run(prog('xusb'), { ...webusb(['msc'], { protectedClasses: [] }), args: ['1209:0002'] });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('VID:PID:REV "LIBUSBW ":"SIM DISK":"1.00"');
    expect(r.stdout).toContain('READ: received 512 bytes');
    expect((r.stdout.match(/Mass Storage Status: 00 \(Success\)/g) ?? []).length).toBe(3);
  });

  it('xusb: with Chrome\'s rules the mass-storage interface cannot be claimed (LIBUSB_ERROR_ACCESS)', async () => {
    const r = await run(prog('xusb'), { ...webusb(['msc']), args: ['1209:0002'] });
    expect(r.code).not.toBe(0);
    expect(r.stdout).toContain('Claiming interface 0...');
    expect(r.stderr).toContain('Failed (error -3)');
    expect(r.stdout).not.toContain('READ: received');
  });

  it('xusb -i: the loopback device, every interface claimed', async () => {
    const r = await run(prog('xusb'), { ...webusb(['loopback']), args: ['-i', '1209:0001'] });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Reading BOS descriptor: 3 caps');
    expect(r.stdout).toContain('String (0x02): "Loopback"');
    expect(r.stdout + r.stderr).not.toMatch(/Failed/);
  });

  it('fxload: the firmware arrives byte for byte', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lw-webusb-fxload-'));
    const segments = [{ address: 0x0000, data: Uint8Array.from({ length: 200 }, (_, i) => (i * 11 + 5) & 0xff) }];
    fs.writeFileSync(path.join(dir, 'fw.hex'), intelHex(segments));
    const r = await run(prog('fxload'), { ...webusb(['fx2']), cwd: dir, args: ['-t', 'fx2lp', '-i', 'fw.hex'] });
    expect(r.code).toBe(0);
    const fx2 = r.devices[0] as { cpuRunning: boolean; segments: { address: number; data: number[] }[] };
    expect(fx2.segments).toEqual(segments.map((s) => ({ address: s.address, data: Array.from(s.data) })));
    expect(fx2.cpuRunning).toBe(true);
  });

  it('hotplugtest: connect and disconnect events become libusb hotplug callbacks', async () => {
    const p = start(prog('hotplugtest'), webusb([]));
    await until(() => p.sim.waitingContexts().then((n) => n > 0), 15000, 'hotplugtest to wait for events');
    const index = await p.sim.plug('loopback');
    await p.waitFor('Device attached: 1209:0001');
    await p.sim.unplug(index);
    const r = await p.outcome();
    expect(r.stdout).toContain('Device detached: 1209:0001');
    expect(r.code).toBe(0);
  });

  it('runs over a navigator.usb-shaped object the caller injects (usbModule)', async () => {
    const usbModule = path.join(ROOT, 'test/fixtures/sim-usb.mjs');
    const r = await run(prog('testlibusb'), { transport: { kind: 'webusb', usbModule }, args: ['-v'] });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Serial Number:\s+INJECTED/);
  });

  it('says so when the injected module is not navigator.usb-shaped', async () => {
    const r = await run(prog('listdevs'), { transport: { kind: 'webusb', usbModule: path.join(ROOT, 'test/fixtures/not-usb.mjs') } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("must export (as default) an object of navigator.usb's shape");
  });

  it("libusb's stress test passes", async () => {
    const r = await run(path.join(TESTS, 'stress.js'), webusb(['loopback', 'fx2']));
    expect(r.stdout).toMatch(/Failed 0 tests/);
    expect(r.code).toBe(0);
  });
});
