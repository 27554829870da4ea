/**
 * The simulated devices behind navigator.usb's shape (ts/sim/webusb/)
 * behave as Chrome's WebUSB does: state, exceptions, result objects, events.
 * In-process: no wasm here.
 */
import { describe, expect, it } from 'vitest';
import { SimBus } from '../ts/sim/bus.js';
import { SimDevice } from '../ts/sim/device.js';
import { LoopbackDevice, LoopbackRequest } from '../ts/sim/models/loopback.js';
import { MassStorageDevice } from '../ts/sim/models/mass-storage.js';
import {
  SimUSB, USBConnectionEvent, USBInTransferResult, USBOutTransferResult, type SimUSBDevice,
} from '../ts/sim/webusb/sim-usb.js';
import type { USBLike } from '../ts/transports/webusb/types.js';

function setup(options: ConstructorParameters<typeof SimUSB>[1] = {}) {
  const bus = new SimBus();
  const loopback = new LoopbackDevice();
  bus.plug(loopback);
  const usb = new SimUSB(bus, options);
  return { bus, loopback, usb };
}

async function openLoopback(usb: SimUSB): Promise<SimUSBDevice> {
  const [d] = await usb.getDevices();
  await d.open();
  await d.claimInterface(0);
  return d;
}

const vendorOut = (request: number, value = 0, index = 0) =>
  ({ requestType: 'vendor', recipient: 'device', request, value, index } as const);

async function rejection(p: Promise<unknown>): Promise<{ name: string; message: string }> {
  try {
    await p;
  } catch (e) {
    return { name: (e as Error).name, message: (e as Error).message };
  }
  throw new Error('expected a rejection');
}

describe('USB and USBDevice: what the descriptors say', () => {
  it('fits the structural type the transport takes', () => {
    const { usb } = setup();
    const shaped: USBLike = usb;
    expect(shaped).toBe(usb);
  });

  it('exposes the device, configuration, interface and endpoint objects', async () => {
    const { usb } = setup();
    const [d] = await usb.getDevices();
    expect([d.vendorId, d.productId]).toEqual([0x1209, 0x0001]);
    expect([d.usbVersionMajor, d.usbVersionMinor, d.usbVersionSubminor]).toEqual([2, 0, 1]);
    expect([d.deviceVersionMajor, d.deviceVersionMinor]).toEqual([1, 0]);
    expect([d.manufacturerName, d.productName, d.serialNumber]).toEqual(['libusb-wasm', 'Loopback', 'LB0001']);
    expect(d.opened).toBe(false);
    expect(d.configuration).toBe(d.configurations[0]);
    expect(d.configuration!.configurationValue).toBe(1);
    expect(d.configuration!.configurationName).toBeNull(); // as Chrome on Linux: no configuration or interface strings
    const [i0, i1] = d.configuration!.interfaces;
    expect(i0.interfaceNumber).toBe(0);
    expect(i0.claimed).toBe(false);
    expect(i0.alternate.interfaceName).toBeNull();
    expect(i0.alternate.endpoints.map((e) => [e.endpointNumber, e.direction, e.type, e.packetSize])).toEqual([
      [1, 'out', 'bulk', 512], [1, 'in', 'bulk', 512], [2, 'out', 'interrupt', 64], [2, 'in', 'interrupt', 64],
    ]);
    expect(i1.alternates.map((a) => a.alternateSetting)).toEqual([0, 1]);
    expect(i1.alternates[1].endpoints.map((e) => e.type)).toEqual(['isochronous', 'isochronous']);
  });
});

describe('USBDevice state and its exceptions (as Chrome throws them)', () => {
  it('needs open() before anything else', async () => {
    const { usb } = setup();
    const [d] = await usb.getDevices();
    expect(await rejection(d.claimInterface(0))).toEqual({
      name: 'InvalidStateError', message: "Failed to execute 'claimInterface' on 'USBDevice': The device must be opened first.",
    });
    expect((await rejection(d.controlTransferIn(vendorOut(2), 8))).name).toBe('InvalidStateError');
    expect((await rejection(d.selectConfiguration(1))).name).toBe('InvalidStateError');
    await d.open();
    expect(d.opened).toBe(true);
    await d.close();
    expect(d.opened).toBe(false);
  });

  it('refuses calls while a state change is in progress', async () => {
    const { usb } = setup();
    const [d] = await usb.getDevices();
    const opening = d.open();
    expect((await rejection(d.open())).name).toBe('InvalidStateError');
    await opening;
    const claiming = d.claimInterface(0);
    const e = await rejection(d.controlTransferIn({ requestType: 'standard', recipient: 'device', request: 6, value: 0x100, index: 0 }, 18));
    expect(e).toEqual({
      name: 'InvalidStateError',
      message: "Failed to execute 'controlTransferIn' on 'USBDevice': An operation that changes interface state is in progress.",
    });
    await claiming;
    expect(d.configuration!.interfaces[0].claimed).toBe(true);
  });

  it('names what does not exist with NotFoundError and bad endpoints with IndexSizeError', async () => {
    const { usb } = setup();
    const [d] = await usb.getDevices();
    await d.open();
    expect((await rejection(d.selectConfiguration(9))).name).toBe('NotFoundError');
    expect((await rejection(d.claimInterface(7))).name).toBe('NotFoundError');
    expect(await rejection(d.transferIn(1, 64))).toEqual({
      name: 'NotFoundError',
      message: "Failed to execute 'transferIn' on 'USBDevice': The specified endpoint is not part of a claimed and selected alternate interface.",
    });
    expect((await rejection(d.transferIn(0, 64))).name).toBe('IndexSizeError');
    expect((await rejection(d.selectAlternateInterface(1, 1))).name).toBe('InvalidStateError'); // not claimed
    await d.claimInterface(1);
    expect((await rejection(d.selectAlternateInterface(1, 5))).name).toBe('NotFoundError');
    // a class request to an interface not claimed
    expect((await rejection(d.controlTransferIn({ requestType: 'class', recipient: 'interface', request: 1, value: 0, index: 0 }, 1))).name)
      .toBe('InvalidStateError');
  });

  it('refuses a view of a SharedArrayBuffer with a TypeError, and bad enums too', async () => {
    const { usb } = setup();
    const d = await openLoopback(usb);
    const shared = new Uint8Array(new SharedArrayBuffer(8)) as unknown as Uint8Array<ArrayBuffer>; // what wasm memory is
    const e = await rejection(d.transferOut(1, shared));
    expect(e.name).toBe('TypeError');
    expect(e.message).toContain('must not be shared');
    expect((await rejection(d.controlTransferOut(vendorOut(1), shared))).name).toBe('TypeError');
    expect((await rejection(d.controlTransferIn({ ...vendorOut(2), requestType: 'bogus' as 'vendor' }, 4))).name).toBe('TypeError');
    expect((await rejection(d.clearHalt('sideways' as 'in', 1))).name).toBe('TypeError');
  });

  it('gives a protected interface class a SecurityError, unless told otherwise', async () => {
    for (const [protectedClasses, expected] of [[undefined, 'SecurityError'], [[], 'ok']] as const) {
      const bus = new SimBus();
      bus.plug(new MassStorageDevice());
      const usb = new SimUSB(bus, protectedClasses ? { protectedClasses } : {});
      const [d] = await usb.getDevices();
      await d.open();
      const outcome = await d.claimInterface(0).then(() => 'ok', (e) => e.name);
      expect(outcome).toBe(expected);
      expect(d.configuration!.interfaces[0].claimed).toBe(expected === 'ok');
    }
  });

  it('lets only one context claim an interface', async () => {
    const { bus } = setup();
    const a = await openLoopback(new SimUSB(bus));
    const [b] = await new SimUSB(bus).getDevices();
    await b.open();
    expect(await rejection(b.claimInterface(0))).toEqual({
      name: 'NetworkError', message: "Failed to execute 'claimInterface' on 'USBDevice': Unable to claim interface.",
    });
    await a.releaseInterface(0);
    await b.claimInterface(0);
  });
});

describe('transfers and their result objects', () => {
  it('echoes bulk data: USBOutTransferResult then USBInTransferResult with a DataView', async () => {
    const { usb } = setup();
    const d = await openLoopback(usb);
    const out = await d.transferOut(1, new Uint8Array([1, 2, 3, 4, 5]));
    expect(out).toBeInstanceOf(USBOutTransferResult);
    expect([out.status, out.bytesWritten]).toEqual(['ok', 5]);
    const r = await d.transferIn(1, 512);
    expect(r).toBeInstanceOf(USBInTransferResult);
    expect(r.status).toBe('ok');
    expect(r.data).toBeInstanceOf(DataView);
    expect([...new Uint8Array(r.data!.buffer)]).toEqual([1, 2, 3, 4, 5]);
  });

  it('takes OUT data when called: later changes to the buffer are not sent', async () => {
    const { usb } = setup();
    const d = await openLoopback(usb);
    const buf = new Uint8Array([9, 9, 9]);
    const sent = d.transferOut(1, buf);
    buf.fill(0);
    await sent;
    expect([...new Uint8Array((await d.transferIn(1, 64)).data!.buffer)]).toEqual([9, 9, 9]);
  });

  it('reports stall and babble as statuses', async () => {
    const { usb } = setup();
    const d = await openLoopback(usb);
    await d.controlTransferOut(vendorOut(LoopbackRequest.QUEUE_IN, 0, 0x81), new Uint8Array(512));
    const babble = await d.transferIn(1, 100);
    expect(babble.status).toBe('babble');
    expect(babble.data!.byteLength).toBe(100);
    await d.controlTransferOut(vendorOut(LoopbackRequest.HALT, 0, 0x81));
    expect((await d.transferIn(1, 64)).status).toBe('stall');
    const unknown = await d.controlTransferIn(vendorOut(0x7f), 8);
    expect(unknown.status).toBe('stall');
    await d.clearHalt('in', 1);
    await d.controlTransferOut(vendorOut(LoopbackRequest.QUEUE_IN, 0, 0x81), new Uint8Array([7]));
    expect((await d.transferIn(1, 64)).status).toBe('ok');
  });

  it('refuses to change the configuration while an interface is claimed, as Chrome on Linux does', async () => {
    const bus = new SimBus();
    const twoConfigs = new SimDevice({
      vendorId: 0x1209, productId: 0x7777, configurations: [1, 2].map((value) => ({
        value, interfaces: [{ number: 0, class: 0xff, endpoints: [{ address: 0x81, type: 'bulk' as const, maxPacketSize: 512 }] }],
      })),
    });
    bus.plug(twoConfigs);
    const [d] = await new SimUSB(bus).getDevices();
    await d.open();
    await d.claimInterface(0);
    expect(await rejection(d.selectConfiguration(2))).toEqual({
      name: 'NetworkError', message: "Failed to execute 'selectConfiguration' on 'USBDevice': Unable to set device configuration.",
    });
    expect([d.configuration!.configurationValue, d.configuration!.interfaces[0].claimed]).toEqual([1, true]);
    expect(twoConfigs.configuration).toBe(1);
    await d.releaseInterface(0);
    await d.selectConfiguration(2);
    expect([d.configuration!.configurationValue, twoConfigs.configuration]).toEqual([2, 2]);
  });

  it("refuses standard requests outside Chrome's allowlist with SecurityError", async () => {
    const { usb } = setup();
    const d = await openLoopback(usb);
    const standard = (recipient: 'device' | 'interface' | 'endpoint', request: number, value: number, index: number) =>
      ({ requestType: 'standard', recipient, request, value, index } as const);
    const refused = (method: string) => ({ name: 'SecurityError', message: `Failed to execute '${method}' on 'USBDevice': The transfer was not allowed.` });
    expect(await rejection(d.controlTransferOut(standard('endpoint', 3, 0, 0x81)))).toEqual(refused('controlTransferOut')); // SET_FEATURE(ENDPOINT_HALT)
    expect(await rejection(d.controlTransferOut(standard('endpoint', 1, 0, 0x81)))).toEqual(refused('controlTransferOut')); // CLEAR_FEATURE: clearHalt() instead
    expect(await rejection(d.controlTransferOut(standard('device', 9, 1, 0)))).toEqual(refused('controlTransferOut')); // SET_CONFIGURATION
    expect(await rejection(d.controlTransferOut(standard('interface', 11, 0, 0)))).toEqual(refused('controlTransferOut')); // SET_INTERFACE
    expect(await rejection(d.controlTransferIn(standard('device', 0x1f, 0, 0), 8))).toEqual(refused('controlTransferIn')); // unknown, even IN
    // the IN requests on the list reach the device
    expect((await d.controlTransferIn(standard('endpoint', 0, 0, 0x81), 2)).status).toBe('ok'); // GET_STATUS
    expect((await d.controlTransferIn(standard('device', 8, 0, 0), 1)).status).toBe('ok'); // GET_CONFIGURATION
    expect((await d.controlTransferIn(standard('interface', 10, 0, 0), 1)).status).toBe('ok'); // GET_INTERFACE
    expect((await d.controlTransferIn(standard('device', 6, 0x0100, 0), 18)).data!.byteLength).toBe(18); // GET_DESCRIPTOR
    // the endpoint's halt bit was never set
    expect([...new Uint8Array((await d.controlTransferIn(standard('endpoint', 0, 0, 0x81), 2)).data!.buffer)]).toEqual([0, 0]);
  });

  it('ends pending transfers as Chrome on Linux: NetworkError after release, alternate change or reset, AbortError before close resolves', async () => {
    const { usb } = setup();
    const d = await openLoopback(usb);
    const order: string[] = [];
    const watch = (p: Promise<unknown>) => p.then(() => order.push('transfer ok'), (e: Error) => order.push(`transfer ${e.name}: ${e.message}`));
    const changes: [string, () => Promise<void>, (() => Promise<void>)?][] = [
      ['release', () => d.releaseInterface(0), () => d.claimInterface(0)],
      ['alternate', () => d.selectAlternateInterface(0, 0)],
      ['reset', () => d.reset()],
      ['close', () => d.close()],
    ];
    for (const [what, change, restore] of changes) {
      const pending = watch(d.transferIn(1, 64));
      await new Promise((r) => setTimeout(r, 5));
      await change();
      order.push(`${what} done`);
      await pending;
      await restore?.();
    }
    const killed = "transfer NetworkError: Failed to execute 'transferIn' on 'USBDevice': A transfer error has occurred.";
    expect(order).toEqual(['release done', killed, 'alternate done', killed, 'reset done', killed,
      "transfer AbortError: Failed to execute 'transferIn' on 'USBDevice': The transfer was cancelled.", 'close done']);
  });

  it('selects alternate settings: the isochronous endpoints appear, packets come back', async () => {
    const { usb } = setup();
    const d = await openLoopback(usb);
    await d.claimInterface(1);
    expect((await rejection(d.isochronousTransferIn(3, [64]))).name).toBe('NotFoundError');
    await d.selectAlternateInterface(1, 1);
    expect(d.configuration!.interfaces[1].alternate.alternateSetting).toBe(1);
    const out = await d.isochronousTransferOut(3, new Uint8Array(128).fill(0x55), [64, 64]);
    expect(out.packets.map((p) => [p.status, p.bytesWritten])).toEqual([['ok', 64], ['ok', 64]]);
    expect((await rejection(d.isochronousTransferOut(3, new Uint8Array(10), [64]))).name).toBe('DataError');
    const r = await d.isochronousTransferIn(3, [64, 64, 32]);
    expect(r.packets.map((p) => p.data!.byteLength)).toEqual([64, 64, 32]);
    expect(r.packets[1].data!.byteOffset).toBe(64);
    expect(new Uint8Array(r.data!.buffer)[0]).toBe(0x55);
  });

  it('fails a whole isochronous transfer when one packet fails, as Chrome does', async () => {
    const { usb } = setup();
    const d = await openLoopback(usb);
    await d.claimInterface(1);
    await d.selectAlternateInterface(1, 1);
    await d.controlTransferOut(vendorOut(LoopbackRequest.ISO_FAULTS, 1 << 1, 0));
    expect(await rejection(d.isochronousTransferIn(3, [64, 64, 64]))).toEqual({
      name: 'NetworkError', message: "Failed to execute 'isochronousTransferIn' on 'USBDevice': A transfer error has occurred.",
    });
  });
});

describe('connect and disconnect', () => {
  it('fails a pending transfer as Chrome on Linux (NetworkError), then fires disconnect; later calls get NotFoundError', async () => {
    const { bus, loopback, usb } = setup();
    const events: string[] = [];
    let seen: SimUSBDevice | undefined;
    usb.addEventListener('disconnect', (e) => {
      events.push('disconnect');
      seen = e.device;
    });
    usb.onconnect = (e) => events.push(`connect ${e.device.productName}`);
    const d = await openLoopback(usb);
    const pending = rejection(d.transferIn(1, 64)).then((e) => {
      events.push(`transfer ${e.name}`);
      return e;
    });
    bus.unplug(loopback);
    expect(await pending).toEqual({ name: 'NetworkError', message: "Failed to execute 'transferIn' on 'USBDevice': A transfer error has occurred." });
    expect(d.opened).toBe(false);
    expect((await rejection(d.open())).name).toBe('NotFoundError');
    expect((await rejection(d.transferIn(1, 64))).message).toBe("Failed to execute 'transferIn' on 'USBDevice': The device was disconnected.");
    expect(await usb.getDevices()).toEqual([]);
    await new Promise((r) => setTimeout(r, 5));
    expect(seen).toBe(d);
    bus.plug(loopback);
    const [again] = await usb.getDevices();
    expect(again).not.toBe(d);
    expect(events).toEqual(['transfer NetworkError', 'disconnect', 'connect Loopback']);
    const ev = new USBConnectionEvent('connect', { device: again });
    expect(ev.type).toBe('connect');
  });

  it('requestDevice() picks by filter; forget() revokes', async () => {
    const { bus, usb } = setup();
    bus.plug(new MassStorageDevice());
    const msc = await usb.requestDevice({ filters: [{ classCode: 0x08 }] });
    expect(msc.productId).toBe(0x0002);
    expect((await rejection(usb.requestDevice({ filters: [{ vendorId: 0xdead }] }))).name).toBe('NotFoundError');
    expect((await rejection(usb.requestDevice(undefined))).name).toBe('TypeError');
    await msc.forget();
    expect((await usb.getDevices()).map((d) => d.productId)).toEqual([0x0001]);
    expect((await rejection(msc.open())).name).toBe('NotFoundError');
    expect((await rejection(usb.requestDevice({ filters: [{ productId: 0x0002 }] }))).name).toBe('TypeError'); // needs vendorId
    const back = await usb.requestDevice({ filters: [{ vendorId: 0x1209, productId: 0x0002 }] });
    expect(back).not.toBe(msc);
    await back.open();
  });
});

describe('result buffers: each result owns its ArrayBuffer, whatever the platform reuses inside', () => {
  it('hands every IN result a buffer of exactly its bytes, never shared with the sender, another result or a later transfer', async () => {
    const { usb } = setup();
    const d = await openLoopback(usb);
    const seen = new Set<ArrayBufferLike>();
    for (const size of [3, 64, 65, 512, 513, 4096, 65536]) {
      const out = new Uint8Array(size).map((_, i) => i * 7);
      await d.transferOut(1, out);
      await d.transferOut(1, out);
      const first = await d.transferIn(1, size);
      const second = await d.transferIn(1, size);
      for (const r of [first, second]) {
        expect(r.data!.byteOffset).toBe(0);
        expect(r.data!.buffer.byteLength).toBe(size);
        expect(seen.has(r.data!.buffer)).toBe(false);
        expect(r.data!.buffer).not.toBe(out.buffer);
        seen.add(r.data!.buffer);
      }
      // the caller may scribble on a result: nothing else changes
      new Uint8Array(first.data!.buffer).fill(0xee);
      expect([...new Uint8Array(second.data!.buffer)]).toEqual([...out]);
      out.fill(1);
      await d.transferOut(1, out);
      expect([...new Uint8Array((await d.transferIn(1, size)).data!.buffer)]).toEqual([...out]);
    }
  });

  it('answers a read of part of a message with a buffer of that part only', async () => {
    const { usb } = setup();
    const d = await openLoopback(usb);
    // one 1024-byte message, read 512 bytes at a time (two full packets each)
    await d.transferOut(1, new Uint8Array(1024).map((_, i) => i & 0xff));
    const a = await d.transferIn(1, 512);
    const b = await d.transferIn(1, 512);
    expect([a.data!.buffer.byteLength, b.data!.buffer.byteLength]).toEqual([512, 512]);
    expect(a.data!.buffer).not.toBe(b.data!.buffer);
    expect(new Uint8Array(b.data!.buffer)[0]).toBe(0);
    expect(new Uint8Array(b.data!.buffer)[511]).toBe(0xff);
  });
});

describe('result delivery', () => {
  /** Whether `p` settles while the caller only yields to microtasks (n turns). */
  async function settlesInMicrotasks(p: Promise<unknown>, turns = 200): Promise<boolean> {
    let settled = false;
    void p.then(() => (settled = true), () => (settled = true));
    for (let i = 0; i < turns && !settled; i++) await null;
    return settled;
  }

  it('by default settles calls as soon as the device answers: microtasks suffice', async () => {
    const { usb } = setup();
    const d = await openLoopback(usb);
    expect(await settlesInMicrotasks(d.transferOut(1, new Uint8Array(8)))).toBe(true);
    expect(await settlesInMicrotasks(d.transferIn(1, 8))).toBe(true);
  });

  it("with resultDelivery 'task' settles each call in a task of its own, as Chrome does: microtasks never see it", async () => {
    const { usb } = setup({ resultDelivery: 'task' });
    const d = await openLoopback(usb);
    const out = d.transferOut(1, new Uint8Array(8).fill(5));
    expect(await settlesInMicrotasks(out)).toBe(false);
    expect((await out).bytesWritten).toBe(8);
    const control = d.controlTransferIn({ requestType: 'standard', recipient: 'device', request: 6, value: 0x100, index: 0 }, 18);
    expect(await settlesInMicrotasks(control)).toBe(false);
    expect((await control).data!.byteLength).toBe(18);
    // a failure comes as a task too
    const failed = d.transferIn(7, 8);
    expect(await settlesInMicrotasks(failed)).toBe(true); // argument checks reject at once, as Chrome's do
    await failed.catch(() => {});
    const read = d.transferIn(1, 8);
    expect(await settlesInMicrotasks(read)).toBe(false);
    expect([...new Uint8Array((await read).data!.buffer)]).toEqual([5, 5, 5, 5, 5, 5, 5, 5]);
  });

  it("with resultDelivery 'task' answers in the order the device completed, one task each", async () => {
    const { usb } = setup({ resultDelivery: 'task' });
    const d = await openLoopback(usb);
    const order: number[] = [];
    const reads = [1, 2, 3].map((n) => d.transferIn(1, 1).then((r) => order.push(n * 10 + new Uint8Array(r.data!.buffer)[0])));
    for (const n of [1, 2, 3]) await d.transferOut(1, new Uint8Array([n]));
    await Promise.all(reads);
    expect(order).toEqual([11, 22, 33]);
  });

  it('refuses a delivery mode it does not know', () => {
    expect(() => setup({ resultDelivery: 'later' as never })).toThrow(/'microtask' or 'task'/);
  });
});
