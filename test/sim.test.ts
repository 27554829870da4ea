/**
 * The simulated-device framework on its own: descriptors as data, the
 * standard requests, and endpoint behaviour (NAK, packets, ZLP, babble,
 * halt, disconnect, cancel, isochronous).
 */
import { describe, expect, it } from 'vitest';
import { SimBus } from '../ts/sim/bus.js';
import { buildDescriptors } from '../ts/sim/descriptors.js';
import { SimDevice } from '../ts/sim/device.js';
import { SimEndpoint } from '../ts/sim/endpoint.js';
import { LoopbackDevice } from '../ts/sim/models/loopback.js';
import { MassStorageDevice } from '../ts/sim/models/mass-storage.js';
import { TransferStatus, TransferType } from '../ts/usb/constants.js';
import type { TransferRequest, TransferCompletion } from '../ts/transports/transport.js';

const inReq = (endpoint: number, length: number): TransferRequest =>
  ({ type: TransferType.BULK, endpoint, length, zeroLengthPacket: false, timeout: 0 });
const outReq = (endpoint: number, data: Uint8Array): TransferRequest =>
  ({ type: TransferType.BULK, endpoint, length: data.length, data, zeroLengthPacket: false, timeout: 0 });
const get = (setup: { bmRequestType: number; bRequest: number; wValue: number; wIndex: number; wLength: number }, dev: SimDevice) =>
  dev.control(setup) as TransferCompletion;
const settled = async <T>(p: T | Promise<T>) => {
  let v: T | undefined;
  void Promise.resolve(p).then((x) => (v = x));
  await new Promise((r) => setTimeout(r, 0));
  return v;
};

function plugged<T extends SimDevice>(d: T): T {
  new SimBus().plug(d);
  return d;
}

describe('descriptors', () => {
  it('serialises a device, configuration, strings and BOS', () => {
    const d = buildDescriptors({
      vendorId: 0x1234, productId: 0x5678, manufacturer: 'M', product: 'P', bcdUSB: 0x0210,
      configurations: [{ value: 3, name: 'cfg', interfaces: [
        { number: 0, class: 0xff, endpoints: [{ address: 0x81, type: 'interrupt', maxPacketSize: 8, interval: 4 }] },
      ] }],
      capabilities: [new Uint8Array([3, 0x10, 0x02])],
    });
    expect(Array.from(d.device)).toEqual([18, 1, 0x10, 0x02, 0, 0, 0, 64, 0x34, 0x12, 0x78, 0x56, 0x00, 0x01, 1, 2, 0, 1]);
    const c = d.configurations[0];
    expect(c[2] | (c[3] << 8)).toBe(c.length);
    expect(c.length).toBe(9 + 9 + 7);
    expect([c[4], c[5], c[6]]).toEqual([1, 3, 3]); // bNumInterfaces, value, iConfiguration
    expect(Array.from(c.subarray(18))).toEqual([7, 5, 0x81, 3, 8, 0, 4]);
    expect([...d.strings]).toEqual([[1, 'M'], [2, 'P'], [3, 'cfg']]);
    expect(Array.from(d.bos!)).toEqual([5, 0x0f, 8, 0, 1, 3, 0x10, 0x02]);
  });
});

describe('standard requests', () => {
  const dev = () => plugged(new LoopbackDevice());

  it('GET_DESCRIPTOR answers with at most wLength bytes, and stalls what does not exist', () => {
    const d = dev();
    const r = get({ bmRequestType: 0x80, bRequest: 6, wValue: 0x0200, wIndex: 0, wLength: 9 }, d);
    expect(r.status).toBe(TransferStatus.COMPLETED);
    expect(r.data!.length).toBe(9);
    expect(get({ bmRequestType: 0x80, bRequest: 6, wValue: 0x0399, wIndex: 0x409, wLength: 255 }, d).status).toBe(TransferStatus.STALL);
    const q = get({ bmRequestType: 0x80, bRequest: 6, wValue: 0x0600, wIndex: 0, wLength: 10 }, d);
    expect(Array.from(q.data!.subarray(0, 2))).toEqual([10, 6]); // high speed: a device qualifier
  });

  it('SET_CONFIGURATION accepts declared values only; GET_CONFIGURATION reports it', () => {
    const d = dev();
    expect(get({ bmRequestType: 0x00, bRequest: 9, wValue: 7, wIndex: 0, wLength: 0 }, d).status).toBe(TransferStatus.STALL);
    expect(get({ bmRequestType: 0x00, bRequest: 9, wValue: 0, wIndex: 0, wLength: 0 }, d).status).toBe(TransferStatus.COMPLETED);
    expect(Array.from(get({ bmRequestType: 0x80, bRequest: 8, wValue: 0, wIndex: 0, wLength: 1 }, d).data!)).toEqual([0]);
  });

  it('SET_FEATURE and CLEAR_FEATURE(ENDPOINT_HALT) drive the halt bit GET_STATUS reports', () => {
    const d = dev();
    const status = () => Array.from(get({ bmRequestType: 0x82, bRequest: 0, wValue: 0, wIndex: 0x81, wLength: 2 }, d).data!);
    expect(status()).toEqual([0, 0]);
    get({ bmRequestType: 0x02, bRequest: 3, wValue: 0, wIndex: 0x81, wLength: 0 }, d);
    expect(status()).toEqual([1, 0]);
    expect(d.transfer(inReq(0x81, 64))).toEqual({ status: TransferStatus.STALL });
    get({ bmRequestType: 0x02, bRequest: 1, wValue: 0, wIndex: 0x81, wLength: 0 }, d);
    expect(status()).toEqual([0, 0]);
  });

  it('SET_INTERFACE selects declared alternate settings only', () => {
    const d = dev();
    expect(get({ bmRequestType: 0x01, bRequest: 11, wValue: 4, wIndex: 1, wLength: 0 }, d).status).toBe(TransferStatus.STALL);
    expect(get({ bmRequestType: 0x01, bRequest: 11, wValue: 1, wIndex: 1, wLength: 0 }, d).status).toBe(TransferStatus.COMPLETED);
    expect(d.alternate(1)).toBe(1);
  });

  it('an unplugged device answers NO_DEVICE', () => {
    const d = new LoopbackDevice();
    expect(get({ bmRequestType: 0x80, bRequest: 6, wValue: 0x0100, wIndex: 0, wLength: 18 }, d).status).toBe(TransferStatus.NO_DEVICE);
  });
});

describe('endpoints', () => {
  const ep = () => new SimEndpoint(0x81, 'bulk', 64);

  it('an IN transfer waits (NAK) until the device has data', async () => {
    const e = ep();
    const p = e.submit(inReq(0x81, 64));
    expect(await settled(p)).toBeUndefined();
    e.send(new Uint8Array([1, 2, 3]));
    expect(await settled(p)).toEqual({ status: TransferStatus.COMPLETED, data: new Uint8Array([1, 2, 3]) });
  });

  it('full packets do not end a transfer; a short packet does', async () => {
    const e = ep();
    const p = e.submit(inReq(0x81, 256));
    e.send(new Uint8Array(64).fill(1));
    expect(await settled(p)).toBeUndefined();
    e.send(new Uint8Array(10).fill(2));
    const r = (await settled(p))!;
    expect(r.data!.length).toBe(74);
  });

  it('a zero-length packet ends a transfer', async () => {
    const e = ep();
    e.send(new Uint8Array(128), { zlp: true });
    expect((e.submit(inReq(0x81, 512)) as TransferCompletion).data!.length).toBe(128);
    e.send(new Uint8Array(0));
    expect((e.submit(inReq(0x81, 512)) as TransferCompletion).data!.length).toBe(0);
  });

  it('a packet larger than the room left is babble; the rest of the packet is lost', () => {
    const e = ep();
    e.send(new Uint8Array(100).map((_, i) => i));
    const r = e.submit(inReq(0x81, 50)) as TransferCompletion;
    expect(r.status).toBe(TransferStatus.OVERFLOW);
    expect(r.data!.length).toBe(50);
    const next = e.submit(inReq(0x81, 64)) as TransferCompletion;
    expect(Array.from(next.data!)).toEqual(Array.from({ length: 36 }, (_, i) => 64 + i));
  });

  it('a halt stalls waiting transfers; a cancel returns data gathered so far', async () => {
    const e = ep();
    const p = e.submit(inReq(0x81, 64));
    e.halt();
    expect((await settled(p))!.status).toBe(TransferStatus.STALL);
    e.clearHalt();
    const req = inReq(0x81, 256);
    const q = e.submit(req);
    e.send(new Uint8Array(64).fill(9));
    expect(e.cancel(req)).toBe(true);
    const r = (await settled(q))!;
    expect(r.status).toBe(TransferStatus.CANCELLED);
    expect(r.data!.length).toBe(64);
  });

  it('disconnect ends waiting transfers with NO_DEVICE', async () => {
    const e = ep();
    const p = e.submit(inReq(0x81, 64));
    e.disconnect();
    expect((await settled(p))!.status).toBe(TransferStatus.NO_DEVICE);
  });

  it('writes IN data into the buffer the host offers, and answers with a view of it', async () => {
    const e = ep();
    const into = new Uint8Array(256).fill(0xee);
    const p = e.submit({ ...inReq(0x81, 256), into });
    e.send(new Uint8Array(64).fill(1));
    expect(into[0]).toBe(1); // a full packet: already in place, the transfer still waits
    e.send(new Uint8Array(10).fill(2));
    const r = (await settled(p))!;
    expect(r.data!.buffer).toBe(into.buffer);
    expect(r.data!.length).toBe(74);
    expect(into[73]).toBe(2);
    expect(into[74]).toBe(0xee); // nothing written past what arrived
  });

  it('reuses a consumed message buffer only when no result still views it', () => {
    const e = ep();
    // consumed through views (no `into`): each result keeps its own bytes
    e.send(new Uint8Array(32).fill(1));
    const a = (e.submit(inReq(0x81, 64)) as TransferCompletion).data!;
    e.send(new Uint8Array(32).fill(2));
    const b = (e.submit(inReq(0x81, 64)) as TransferCompletion).data!;
    expect([a[0], b[0]]).toEqual([1, 2]);
    // consumed in place: the next messages may reuse the buffer, data stays right
    for (let i = 0; i < 4; i++) {
      const into = new Uint8Array(64);
      e.send(new Uint8Array(32).fill(10 + i));
      const r = e.submit({ ...inReq(0x81, 64), into }) as TransferCompletion;
      expect(Array.from(r.data!)).toEqual(new Array(32).fill(10 + i));
    }
    e.send(new Uint8Array(32).fill(3));
    const c = (e.submit(inReq(0x81, 64)) as TransferCompletion).data!;
    expect([a[0], b[0], c[0], c[31]]).toEqual([1, 2, 3, 3]);
  });

  it('an IN source fills every transfer at once, queued data first', () => {
    const e = ep();
    e.send(new Uint8Array([7, 7, 7]));
    e.source = (room) => new Uint8Array(room).fill(5);
    expect(Array.from((e.submit(inReq(0x81, 8)) as TransferCompletion).data!)).toEqual([7, 7, 7]);
    const r = e.submit(inReq(0x81, 100)) as TransferCompletion;
    expect(r.status).toBe(TransferStatus.COMPLETED);
    expect(r.data!.length).toBe(100);
    expect(r.data![99]).toBe(5);
    e.source = undefined;
    expect(e.submit(inReq(0x81, 8))).toBeInstanceOf(Promise); // back to waiting for data
  });

  it('an OUT transfer waits while the device NAKs, until it is ready', async () => {
    const e = new SimEndpoint(0x01, 'bulk', 64);
    let ready = false;
    const got: number[] = [];
    e.onReceive = (d) => {
      if (!ready) return false;
      got.push(...d);
    };
    const p = e.submit(outReq(0x01, new Uint8Array([5, 6])));
    expect(await settled(p)).toBeUndefined();
    ready = true;
    e.ready();
    expect(await settled(p)).toEqual({ status: TransferStatus.COMPLETED, bytesWritten: 2 });
    expect(got).toEqual([5, 6]);
  });
});

describe('mass-storage model', () => {
  it('stalls both bulk endpoints on an invalid CBW', () => {
    const d = plugged(new MassStorageDevice());
    const r = d.transfer(outReq(0x02, new Uint8Array(31))) as TransferCompletion;
    expect(r.status).toBe(TransferStatus.STALL);
    expect(d.transfer(inReq(0x81, 13))).toEqual({ status: TransferStatus.STALL });
  });
});
