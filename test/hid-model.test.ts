/**
 * The simulated HID device on its own: what a HID host (a kernel's usbhid,
 * hidapi over libusb) sees of it at the USB level.
 */
import { describe, expect, it } from 'vitest';
import { SimBus } from '../ts/sim/bus.js';
import {
  HidDevice, HidReportType, HID_DEMO_REPORT_DESCRIPTOR, SimpleHidDemo, parseReportDescriptor,
} from '../ts/sim/models/hid.js';
import { parseConfiguration } from '../ts/usb/config-parse.js';
import { TransferStatus, TransferType } from '../ts/usb/constants.js';
import type { SetupPacket, TransferCompletion } from '../ts/transports/transport.js';

const IN_IFACE = 0xa1; // class, interface, device-to-host
const OUT_IFACE = 0x21;

function plugged<T extends HidDevice>(device: T): T {
  new SimBus().plug(device);
  return device;
}

async function control(device: HidDevice, setup: Partial<SetupPacket> & { bmRequestType: number; bRequest: number },
  data?: Uint8Array): Promise<TransferCompletion> {
  return device.control({ wValue: 0, wIndex: 0, wLength: data?.length ?? 0, ...setup }, data);
}

describe('report descriptor parsing', () => {
  it('sizes each report of the demo descriptor, report ID byte included', () => {
    const layout = parseReportDescriptor(HID_DEMO_REPORT_DESCRIPTOR);
    expect(layout.usesReportIds).toBe(true);
    expect(Object.fromEntries(layout.sizes)).toEqual({ '1:1': 17, '2:1': 17, '3:2': 17 });
  });

  it('sizes a boot keyboard descriptor without report IDs', () => {
    // HID 1.11 appendix B.1: modifiers (8 x 1 bit), reserved byte, LEDs (5 + 3 bits), 6 key codes
    const keyboard = new Uint8Array([
      0x05, 0x01, 0x09, 0x06, 0xa1, 0x01, 0x05, 0x07, 0x19, 0xe0, 0x29, 0xe7, 0x15, 0x00, 0x25, 0x01,
      0x75, 0x01, 0x95, 0x08, 0x81, 0x02, 0x95, 0x01, 0x75, 0x08, 0x81, 0x01, 0x95, 0x05, 0x75, 0x01,
      0x05, 0x08, 0x19, 0x01, 0x29, 0x05, 0x91, 0x02, 0x95, 0x01, 0x75, 0x03, 0x91, 0x01, 0x95, 0x06,
      0x75, 0x08, 0x15, 0x00, 0x25, 0x65, 0x05, 0x07, 0x19, 0x00, 0x29, 0x65, 0x81, 0x00, 0xc0,
    ]);
    const layout = parseReportDescriptor(keyboard);
    expect(layout.usesReportIds).toBe(false);
    expect(Object.fromEntries(layout.sizes)).toEqual({ '1:0': 8, '2:0': 1 });
  });
});

describe('the hid model', () => {
  it('declares a HID interface whose extra bytes are the HID descriptor', () => {
    const d = new SimpleHidDemo();
    const raw = d.descriptors.configurations[0];
    const config = parseConfiguration(raw);
    expect(config.alternates).toHaveLength(1);
    expect(config.alternates[0]).toMatchObject({ interfaceClass: 3, interfaceNumber: 0 });
    expect(config.alternates[0].endpoints.map((e) => [e.address, e.type])).toEqual([[0x81, TransferType.INTERRUPT], [0x01, TransferType.INTERRUPT]]);
    // the 9 bytes after the 9-byte interface descriptor
    const hid = raw.subarray(18, 27);
    expect(Array.from(hid)).toEqual([9, 0x21, 0x11, 0x01, 0, 1, 0x22, HID_DEMO_REPORT_DESCRIPTOR.length, 0]);
    expect(d.kernelDrivers.get(0)).toBe('usbhid');
    expect(new SimpleHidDemo({ kernelDriver: false }).kernelDrivers.size).toBe(0);
  });

  it('answers GET_DESCRIPTOR(REPORT) addressed to the interface, and stalls it for other interfaces', async () => {
    const d = plugged(new SimpleHidDemo());
    const r = await control(d, { bmRequestType: 0x81, bRequest: 0x06, wValue: 0x2200, wIndex: 0, wLength: 255 });
    expect(r.status).toBe(TransferStatus.COMPLETED);
    expect(Array.from(r.data!)).toEqual(Array.from(HID_DEMO_REPORT_DESCRIPTOR));
    const short = await control(d, { bmRequestType: 0x81, bRequest: 0x06, wValue: 0x2200, wIndex: 0, wLength: 7 });
    expect(short.data!.length).toBe(7);
    expect((await control(d, { bmRequestType: 0x81, bRequest: 0x06, wValue: 0x2200, wIndex: 1, wLength: 255 })).status).toBe(TransferStatus.STALL);
    const hid = await control(d, { bmRequestType: 0x81, bRequest: 0x06, wValue: 0x2100, wIndex: 0, wLength: 9 });
    expect(hid.data![1]).toBe(0x21);
  });

  it('keeps a feature report set with SET_REPORT and returns it with GET_REPORT', async () => {
    const d = plugged(new SimpleHidDemo());
    const report = new Uint8Array(17);
    report.set([2, 0xa0, 0x0a, 0x33]);
    expect((await control(d, { bmRequestType: OUT_IFACE, bRequest: 0x09, wValue: 0x0302 }, report)).status).toBe(TransferStatus.COMPLETED);
    const r = await control(d, { bmRequestType: IN_IFACE, bRequest: 0x01, wValue: 0x0302, wLength: 256 });
    expect(Array.from(r.data!)).toEqual(Array.from(report));
  });

  it('refuses reports of the wrong length, ID or type with a STALL', async () => {
    const d = plugged(new SimpleHidDemo());
    const wrongLength = new Uint8Array(16);
    wrongLength[0] = 2;
    expect((await control(d, { bmRequestType: OUT_IFACE, bRequest: 0x09, wValue: 0x0302 }, wrongLength)).status).toBe(TransferStatus.STALL);
    const wrongId = new Uint8Array(17);
    wrongId[0] = 3;
    expect((await control(d, { bmRequestType: OUT_IFACE, bRequest: 0x09, wValue: 0x0302 }, wrongId)).status).toBe(TransferStatus.STALL);
    // there is no feature report 1 and no input report 2
    expect((await control(d, { bmRequestType: IN_IFACE, bRequest: 0x01, wValue: 0x0301, wLength: 64 })).status).toBe(TransferStatus.STALL);
    expect((await control(d, { bmRequestType: IN_IFACE, bRequest: 0x01, wValue: 0x0102, wLength: 64 })).status).toBe(TransferStatus.STALL);
    // boot protocol requests belong to boot devices only
    expect((await control(d, { bmRequestType: IN_IFACE, bRequest: 0x03, wLength: 1 })).status).toBe(TransferStatus.STALL);
  });

  it('answers commands sent as output reports on the interrupt OUT endpoint with input reports', async () => {
    const d = plugged(new SimpleHidDemo({ buttonPressed: true }));
    const out = (bytes: number[]) => {
      const report = new Uint8Array(17);
      report.set([1, ...bytes]);
      return d.transfer({ type: TransferType.INTERRUPT, endpoint: 0x01, data: report, length: 17, zeroLengthPacket: false, timeout: 0 });
    };
    const read = () => d.transfer({ type: TransferType.INTERRUPT, endpoint: 0x81, length: 64, zeroLengthPacket: false, timeout: 0 });
    expect((await out([0x80])).status).toBe(TransferStatus.COMPLETED);
    expect(d.ledsOn).toBe(true);
    await out([0x81]);
    const button = await read();
    expect(Array.from(button.data!.subarray(0, 3))).toEqual([1, 0x81, 0x00]);
    expect(button.data!.length).toBe(17);
    d.potentiometer = 0x2a5;
    await out([0x37]);
    expect(Array.from((await read()).data!.subarray(0, 4))).toEqual([1, 0x37, 0xa5, 0x02]);
    // GET_REPORT(INPUT) returns the last input report
    const last = await control(d, { bmRequestType: IN_IFACE, bRequest: 0x01, wValue: 0x0101, wLength: 64 });
    expect(Array.from(last.data!.subarray(0, 4))).toEqual([1, 0x37, 0xa5, 0x02]);
  });

  it('repeats the last input report at the SET_IDLE rate, and stops at rate 0', async () => {
    const d = plugged(new SimpleHidDemo());
    d.sendInputReport(1, [0x42]);
    const read = () => d.transfer({ type: TransferType.INTERRUPT, endpoint: 0x81, length: 64, zeroLengthPacket: false, timeout: 0 });
    expect((await read()).data![1]).toBe(0x42);
    // 2 x 4 ms
    expect((await control(d, { bmRequestType: OUT_IFACE, bRequest: 0x0a, wValue: 0x0201 })).status).toBe(TransferStatus.COMPLETED);
    expect((await control(d, { bmRequestType: IN_IFACE, bRequest: 0x02, wValue: 0x0001, wLength: 1 })).data![0]).toBe(2);
    const repeated = await read();
    expect(repeated.data![1]).toBe(0x42);
    await control(d, { bmRequestType: OUT_IFACE, bRequest: 0x0a, wValue: 0x0001 });
    const pending = read();
    const outcome = await Promise.race([pending, new Promise((r) => setTimeout(() => r('nothing'), 50))]);
    // nothing more arrives (the device NAKs); the waiting transfer gets the next report
    expect(outcome).toBe('nothing');
    d.sendInputReport(1, [0x43]);
    expect((await pending).data![1]).toBe(0x43);
  });

  it('sends input reports as whole reports, padded to the declared size', () => {
    const d = plugged(new SimpleHidDemo());
    expect(() => d.sendInputReport(7, [1])).toThrow(/no input report 7/);
    expect(d.reportSize(HidReportType.FEATURE, 2)).toBe(17);
  });
});
