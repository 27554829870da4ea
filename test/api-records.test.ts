/**
 * The typed API's records (wasm/api/api_protocol.h), end to end: the real
 * API shim writes them from what the real libusb parsed, ts/api/records.ts
 * reads them. A device whose every descriptor field has a value of its own
 * (test/fixtures/every-record-field.mjs) comes back field by field, over
 * the device list, a hotplug arrival and the BOS record; a writer and
 * reader that disagree on an order, a width or a variable part fail here.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createContext, type Context, type Device } from '../dist/api.js';
import type { DeviceInfo } from '../ts/api/types.js';
import { ROOT, until } from './helpers.js';

const DEVICE_MODULE = path.join(ROOT, 'test/fixtures/every-record-field.mjs');
/** The fixture's descriptor bytes. */
const Fixture = (await import(DEVICE_MODULE)) as Record<'CONFIG' | 'CONFIG_EXTRA' | 'INTERFACE_EXTRA' | 'ENDPOINT_EXTRA' | 'HID' | 'BOS', number[]>
  & { CAPABILITIES: number[][] };
const bytes = (b: number[]) => new Uint8Array(b);

/** What libusb parses from the fixture's descriptors, as the records carry it (the device's location aside). */
const EXPECTED: Omit<DeviceInfo, 'id' | 'deviceAddress'> = {
  busNumber: 1,
  portNumbers: [1],
  speed: 'super',
  manufacturer: 'libusb-wasm',
  product: 'Every record field',
  deviceDescriptor: {
    bLength: 18, bDescriptorType: 1, bcdUSB: 0x0320, bDeviceClass: 0xef, bDeviceSubClass: 0x02, bDeviceProtocol: 0x01,
    bMaxPacketSize0: 9, idVendor: 0x1209, idProduct: 0x00c3, bcdDevice: 0x0142, iManufacturer: 1, iProduct: 2,
    iSerialNumber: 0, bNumConfigurations: 2,
  },
  configurations: [{
    bLength: 9, bDescriptorType: 2, wTotalLength: Fixture.CONFIG.length, bNumInterfaces: 2, bConfigurationValue: 1,
    iConfiguration: 0, bmAttributes: 0xe0, MaxPower: 0x2a, extra: bytes(Fixture.CONFIG_EXTRA),
    interfaces: [
      {
        altsettings: [
          {
            bLength: 9, bDescriptorType: 4, bInterfaceNumber: 0, bAlternateSetting: 0, bNumEndpoints: 1,
            bInterfaceClass: 0xff, bInterfaceSubClass: 0x5a, bInterfaceProtocol: 0xa5, iInterface: 0,
            extra: bytes(Fixture.INTERFACE_EXTRA),
            endpoints: [{
              bLength: 7, bDescriptorType: 5, bEndpointAddress: 0x83, bmAttributes: 0x03, wMaxPacketSize: 0x0200,
              bInterval: 4, bRefresh: 0, bSynchAddress: 0, extra: bytes(Fixture.ENDPOINT_EXTRA),
              ssCompanion: { bMaxBurst: 2, bmAttributes: 0, wBytesPerInterval: 0x0600 },
            }],
          },
          {
            bLength: 9, bDescriptorType: 4, bInterfaceNumber: 0, bAlternateSetting: 1, bNumEndpoints: 2,
            bInterfaceClass: 0xff, bInterfaceSubClass: 0x5a, bInterfaceProtocol: 0xa6, iInterface: 0, extra: bytes([]),
            endpoints: [
              {
                bLength: 9, bDescriptorType: 5, bEndpointAddress: 0x02, bmAttributes: 0x05, wMaxPacketSize: 0x00c0,
                bInterval: 1, bRefresh: 3, bSynchAddress: 0x82, extra: bytes([]),
              },
              {
                bLength: 9, bDescriptorType: 5, bEndpointAddress: 0x82, bmAttributes: 0x11, wMaxPacketSize: 0x0003,
                bInterval: 1, bRefresh: 5, bSynchAddress: 0, extra: bytes([]),
              },
            ],
          },
        ],
      },
      {
        altsettings: [{
          bLength: 9, bDescriptorType: 4, bInterfaceNumber: 1, bAlternateSetting: 0, bNumEndpoints: 0,
          bInterfaceClass: 0x03, bInterfaceSubClass: 0, bInterfaceProtocol: 0, iInterface: 0, extra: bytes(Fixture.HID),
          endpoints: [],
        }],
      },
    ],
  }],
};

/** A Device's fields, as plain data. */
function info(d: Device): Omit<DeviceInfo, 'id'> {
  const { busNumber, deviceAddress, portNumbers, speed, deviceDescriptor, configurations, manufacturer, product, serialNumber } = d;
  const out: Omit<DeviceInfo, 'id'> = { busNumber, deviceAddress, portNumbers, speed, deviceDescriptor, configurations };
  if (manufacturer !== undefined) out.manufacturer = manufacturer;
  if (product !== undefined) out.product = product;
  if (serialNumber !== undefined) out.serialNumber = serialNumber;
  return out;
}

describe('the API shim\'s records, read back field by field', () => {
  let usb: Context;
  let device: Device;
  const logs: string[] = [];

  beforeAll(async () => {
    usb = await createContext({ deviceModule: DEVICE_MODULE, logLevel: 'warning', onLog: (_level, m) => logs.push(m) });
    const list = await usb.getDeviceList();
    expect(list).toHaveLength(1);
    device = list[0];
  });
  afterAll(async () => {
    await usb?.exit();
  });

  it('a device list: location, device descriptor, strings, every configuration libusb parsed', () => {
    expect(device.id).toBe(1);
    expect(info(device)).toStrictEqual({ ...EXPECTED, deviceAddress: 1 });
    expect(device.serialNumber).toBeUndefined();
  });

  it('a configuration libusb cannot parse is in the record as its error, and left out', async () => {
    expect(device.deviceDescriptor.bNumConfigurations).toBe(2);
    expect(device.configurations.map((c) => c.bConfigurationValue)).toEqual([1]);
    await until(() => logs.some((m) => /unexpected descriptor 0x7/.test(m)), 15000, 'libusb to log why configuration 1 is refused');
  });

  it('a hotplug arrival: the same record, at its new address', async () => {
    const left = new Promise<Device>((resolve) => usb.addEventListener('disconnect', (e) => resolve(e.device), { once: true }));
    await usb.sim!.unplug(0);
    expect(await left).toBe(device);
    const arrived = new Promise<Device>((resolve) => usb.addEventListener('connect', (e) => resolve(e.device), { once: true }));
    await usb.sim!.plug(0);
    const again = await arrived;
    expect(again.id).toBeGreaterThan(device.id);
    expect(info(again)).toStrictEqual({ ...EXPECTED, deviceAddress: 2 });
  });

  it('a BOS record: the header and each capability with its data', async () => {
    const [current] = await usb.getDeviceList();
    const h = await current.open();
    try {
      expect(await h.getBosDescriptor()).toStrictEqual({
        bLength: 5, bDescriptorType: 0x0f, wTotalLength: Fixture.BOS.length, bNumDeviceCaps: Fixture.CAPABILITIES.length,
        capabilities: Fixture.CAPABILITIES.map(([bLength, bDescriptorType, bDevCapabilityType, ...data]) => (
          { bLength, bDescriptorType, bDevCapabilityType, data: bytes(data) })),
      });
    } finally {
      await h.close();
    }
  });
});
