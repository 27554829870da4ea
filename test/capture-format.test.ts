/**
 * The capture format on its own (ts/usb/capture/): usbmon records and
 * pcapng blocks round-trip, files written elsewhere (big-endian pcapng,
 * classic pcap, the 48-byte usbmon header) are read, and the recorder's
 * rules hold: snap length, size limit, one enumeration per device and
 * program, control-plane events, statuses. Wireshark's own reading of what
 * real programs produce is in capture-wireshark.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { PcapngWriter, readCaptureFile } from '../ts/usb/capture/pcapng.js';
import {
  Errno, LINKTYPE_USB_LINUX, LINKTYPE_USB_LINUX_MMAPPED, decodeUsbmon, encodeUsbmon, transferStatusOf, usbmonRecordSize,
  usbmonStatus, type UsbmonRecord,
} from '../ts/usb/capture/usbmon.js';
import { CaptureRecorder, ENUMERATION_COMMENT } from '../ts/usb/capture/recorder.js';
import type { CaptureDevice } from '../ts/usb/capture/tap.js';
import { readUsbCapture } from '../ts/usb/capture/exchanges.js';
import { ErrorCode, TransferStatus, TransferType } from '../ts/usb/constants.js';
import { LoopbackDevice } from '../ts/sim/models/loopback.js';

function encode(record: UsbmonRecord): Uint8Array {
  const out = new Uint8Array(usbmonRecordSize(record));
  encodeUsbmon(record, out);
  return out;
}

/** A recorder writing into memory, with a clock that ticks 1 µs per record. */
function memoryRecorder(options: { snapLength?: number; maxBytes?: number } = {}) {
  const chunks: Uint8Array[] = [];
  const logs: string[] = [];
  let clock = 1_700_000_000_000_000;
  const recorder = new CaptureRecorder({ sink: { write: (c) => chunks.push(c) }, now: () => clock++, log: (m) => logs.push(m), ...options });
  const bytes = () => new Uint8Array(Buffer.concat(chunks));
  return { recorder, logs, bytes };
}

const loopback = new LoopbackDevice();
const device: CaptureDevice = {
  busNumber: 1, deviceAddress: 7,
  descriptors: { device: loopback.descriptors.device, configurations: loopback.descriptors.configurations, bos: loopback.descriptors.bos },
  strings: { manufacturer: 'libusb-wasm', product: 'Loopback', serialNumber: 'LB0001' },
};

describe('usbmon records', () => {
  it('a control submission and an isochronous completion round-trip through the 64-byte header', () => {
    const control: UsbmonRecord = {
      id: 0xffff_8880_1234_5678n, type: 'S', transferType: 2, endpoint: 0x80, deviceAddress: 7, busNumber: 3,
      setup: new Uint8Array([0x80, 6, 0, 1, 0, 0, 18, 0]), seconds: 1_700_000_000, microseconds: 123456,
      status: -Errno.EINPROGRESS, urbLength: 18, dataFlag: '<'.charCodeAt(0), transferFlags: 0x200, interval: 0, startFrame: 0,
    };
    expect(decodeUsbmon(encode(control), LINKTYPE_USB_LINUX_MMAPPED)).toEqual(control);

    const iso: UsbmonRecord = {
      id: 9n, type: 'C', transferType: 0, endpoint: 0x83, deviceAddress: 7, busNumber: 3, seconds: 1, microseconds: 2,
      status: 0, urbLength: 6, errorCount: 1, packetCount: 3, interval: 1, startFrame: 0, transferFlags: 0x202,
      isoDescriptors: [{ status: 0, offset: 0, length: 4 }, { status: -Errno.EPROTO, offset: 4, length: 0 }, { status: 0, offset: 8, length: 2 }],
      data: new Uint8Array([1, 2, 3, 4, 0, 0, 0, 0, 9, 10]),
    };
    const bytes = encode(iso);
    expect(bytes.length).toBe(64 + 3 * 16 + 10);
    expect(decodeUsbmon(bytes, LINKTYPE_USB_LINUX_MMAPPED)).toEqual(iso);
  });

  it('reads the 48-byte header of link type 189, and refuses what is too short', () => {
    const bulk: UsbmonRecord = {
      id: 5n, type: 'C', transferType: 3, endpoint: 0x81, deviceAddress: 2, busNumber: 1, seconds: 10, microseconds: 20,
      status: -Errno.EPIPE, urbLength: 0, dataFlag: 0,
    };
    const full = encode(bulk);
    const old = new Uint8Array(48 + 3);
    old.set(full.subarray(0, 48));
    new DataView(old.buffer).setUint32(36, 3, true);
    old.set([7, 8, 9], 48);
    const r = decodeUsbmon(old, LINKTYPE_USB_LINUX);
    expect(r).toMatchObject({ id: 5n, type: 'C', endpoint: 0x81, status: -32, data: new Uint8Array([7, 8, 9]) });
    expect(() => decodeUsbmon(full.subarray(0, 40), LINKTYPE_USB_LINUX_MMAPPED)).toThrow(/shorter than its 64-byte header/);
    expect(() => decodeUsbmon(full, 1)).toThrow(/not a usbmon link type/);
  });

  it('maps libusb statuses to the kernel\'s and back (a timeout is an unlink)', () => {
    expect(usbmonStatus(TransferStatus.COMPLETED)).toBe(0);
    expect(usbmonStatus(TransferStatus.STALL)).toBe(-32);
    expect(usbmonStatus(TransferStatus.TIMED_OUT)).toBe(-104);
    expect(usbmonStatus(TransferStatus.CANCELLED)).toBe(-104);
    expect(usbmonStatus(TransferStatus.NO_DEVICE)).toBe(-108);
    expect(usbmonStatus(TransferStatus.OVERFLOW)).toBe(-75);
    expect(usbmonStatus(TransferStatus.ERROR)).toBe(-71);
    for (const s of [TransferStatus.COMPLETED, TransferStatus.STALL, TransferStatus.CANCELLED, TransferStatus.NO_DEVICE,
      TransferStatus.OVERFLOW, TransferStatus.ERROR]) expect(transferStatusOf(usbmonStatus(s))).toBe(s);
    expect(transferStatusOf(-Errno.ENOENT)).toBe(TransferStatus.CANCELLED);
    expect(transferStatusOf(-Errno.ENODEV)).toBe(TransferStatus.NO_DEVICE);
    expect(transferStatusOf(-Errno.EREMOTEIO)).toBe(TransferStatus.COMPLETED);
  });
});

describe('pcapng and pcap files', () => {
  it('round-trips interfaces, timestamps, lengths and comments', () => {
    const chunks: Uint8Array[] = [];
    const w = new PcapngWriter({ write: (c) => chunks.push(c) }, 'test');
    const a = w.addInterface({ linkType: 220, snapLength: 0, name: 'prog#1', description: 'first' });
    const b = w.addInterface({ linkType: 220, snapLength: 128, name: 'prog#2' });
    w.writePacket(b, 1_700_000_000_123_456, 3, 10, (out, at) => out.set([1, 2, 3], at), 'hello, comment');
    w.writePacket(a, 1_700_000_000_000_001, 5, 5, (out, at) => out.set([5, 6, 7, 8, 9], at));
    const bytes = new Uint8Array(Buffer.concat(chunks));
    expect(w.bytesWritten).toBe(bytes.length);
    const file = readCaptureFile(bytes);
    expect(file.format).toBe('pcapng');
    expect(file.interfaces.map((i) => [i.name, i.description, i.linkType])).toEqual([['prog#1', 'first', 220], ['prog#2', undefined, 220]]);
    expect(file.packets.map((p) => ({ ...p, data: [...p.data] }))).toEqual([
      { interfaceIndex: 1, timestampMicros: 1_700_000_000_123_456, data: [1, 2, 3], originalLength: 10, comments: ['hello, comment'] },
      { interfaceIndex: 0, timestampMicros: 1_700_000_000_000_001, data: [5, 6, 7, 8, 9], originalLength: 5, comments: [] },
    ]);
  });

  it('reads a big-endian section with nanosecond timestamps', () => {
    const be = new DataView(new ArrayBuffer(28 + 32 + 36));
    // Section Header Block
    be.setUint32(0, 0x0a0d0d0a); be.setUint32(4, 28); be.setUint32(8, 0x1a2b3c4d); be.setUint16(12, 1);
    be.setBigInt64(16, -1n); be.setUint32(24, 28);
    // Interface Description Block: link type 220, if_tsresol 9 (nanoseconds)
    be.setUint32(28, 1); be.setUint32(32, 32); be.setUint16(36, 220); be.setUint32(40, 0);
    be.setUint16(44, 9); be.setUint16(46, 1); be.setUint8(48, 9); be.setUint32(52, 0); be.setUint32(56, 32);
    // Enhanced Packet Block: 2 bytes at 1.5 s
    be.setUint32(60, 6); be.setUint32(64, 36); be.setUint32(68, 0);
    be.setUint32(72, 0); be.setUint32(76, 1_500_000_000); be.setUint32(80, 2); be.setUint32(84, 2);
    be.setUint16(88, 0xbeef); be.setUint32(92, 36);
    const file = readCaptureFile(new Uint8Array(be.buffer));
    expect(file.interfaces[0]).toMatchObject({ linkType: 220, littleEndian: false });
    expect(file.packets[0]).toMatchObject({ timestampMicros: 1_500_000, data: new Uint8Array([0xbe, 0xef]) });
  });

  it('reads classic pcap, and says what is wrong with a broken file', () => {
    const v = new DataView(new ArrayBuffer(24 + 16 + 4));
    v.setUint32(0, 0xa1b2c3d4, true); v.setUint16(4, 2, true); v.setUint16(6, 4, true);
    v.setUint32(16, 65535, true); v.setUint32(20, 189, true);
    v.setUint32(24, 100, true); v.setUint32(28, 7, true); v.setUint32(32, 4, true); v.setUint32(36, 4, true);
    const pcap = new Uint8Array(v.buffer);
    pcap.set([1, 2, 3, 4], 40);
    const file = readCaptureFile(pcap);
    expect(file).toMatchObject({ format: 'pcap', interfaces: [{ linkType: 189, littleEndian: true }] });
    expect(file.packets[0]).toMatchObject({ timestampMicros: 100_000_007, data: new Uint8Array([1, 2, 3, 4]) });
    expect(() => readCaptureFile(pcap.subarray(0, 42))).toThrow(/truncated/);
    expect(() => readCaptureFile(new Uint8Array(64))).toThrow(/not a pcapng or pcap file/);
  });
});

describe('the recorder', () => {
  it('writes a device\'s enumeration once per program, then transfers as S/C pairs with the kernel\'s fields', () => {
    const { recorder, bytes } = memoryRecorder();
    const one = recorder.program('one#1');
    const two = recorder.program('two#2');
    const out = { type: TransferType.BULK, endpoint: 0x01, length: 4, data: new Uint8Array([0xde, 0xad, 0xbe, 0xef]), zeroLengthPacket: true };
    const into = { type: TransferType.BULK, endpoint: 0x81, length: 512, zeroLengthPacket: false };
    one.submitted(device, out);
    one.completed(device, out, { status: TransferStatus.COMPLETED, bytesWritten: 4 });
    one.submitted(device, into);
    two.annotate(device, { kind: 'open' });
    one.completed(device, into, { status: TransferStatus.STALL });

    const capture = readUsbCapture(bytes());
    expect(capture.interfaces.map((i) => i.name)).toEqual(['one#1', 'two#2']);
    const enumerations = capture.exchanges.filter((e) => e.submission?.comments.includes(ENUMERATION_COMMENT));
    // device, 2 x configuration, 2 x BOS, languages, 3 strings: in each program's capture
    expect(enumerations.filter((e) => e.interfaceIndex === 0)).toHaveLength(9);
    expect(enumerations.filter((e) => e.interfaceIndex === 1)).toHaveLength(9);
    const serial = enumerations.find((e) => e.interfaceIndex === 0 && e.setup![3] === 3 && e.setup![2] === 3);
    expect(Buffer.from(serial!.completion!.data!.subarray(2)).toString('utf16le')).toBe('LB0001');

    const transfers = capture.exchanges.filter((e) => !enumerations.includes(e));
    expect(transfers).toHaveLength(2);
    expect(transfers[0]).toMatchObject({ interfaceIndex: 0, busNumber: 1, deviceAddress: 7, type: TransferType.BULK, endpoint: 0x01 });
    expect(transfers[0].submission).toMatchObject({ status: -115, length: 4, data: new Uint8Array([0xde, 0xad, 0xbe, 0xef]) });
    expect(transfers[0].completion).toMatchObject({ status: 0, length: 4, data: undefined });
    expect(transfers[1].completion).toMatchObject({ status: -32, length: 0 });
    expect(capture.annotations.map((a) => [a.interfaceIndex, a.comments])).toEqual([[1, ['libusb_open']]]);
  });

  it('records set-configuration, set-alternate and clear-halt as the control URBs the kernel sends; a refused one as a note', () => {
    const { recorder, bytes } = memoryRecorder();
    const tap = recorder.program('p#1');
    tap.annotate(device, { kind: 'set_configuration', value: 1 });
    tap.annotate(device, { kind: 'set_alternate', interface: 1, alternate: 1 }, ErrorCode.NOT_FOUND);
    tap.annotate(device, { kind: 'clear_halt', endpoint: 0x81 });
    tap.annotate(device, { kind: 'set_configuration', value: 2 }, ErrorCode.BUSY);
    const capture = readUsbCapture(bytes());
    const urbs = capture.exchanges.filter((e) => !e.submission?.comments.includes(ENUMERATION_COMMENT));
    expect(urbs.map((e) => [[...e.setup!], e.completion!.status, e.submission!.comments[0]])).toEqual([
      [[0x00, 0x09, 1, 0, 0, 0, 0, 0], 0, 'libusb_set_configuration 1'],
      [[0x01, 0x0b, 1, 0, 1, 0, 0, 0], -32, 'libusb_set_interface_alt_setting 1 1: libusb error -5'],
      [[0x02, 0x01, 0, 0, 0x81, 0, 0, 0], 0, 'libusb_clear_halt 0x81'],
    ]);
    expect(capture.annotations.map((a) => a.comments[0])).toEqual(['libusb_set_configuration 2: libusb error -6']);
  });

  it('keeps snapLength bytes of data and the whole length in the header', () => {
    const { recorder, bytes } = memoryRecorder({ snapLength: 8 });
    const tap = recorder.program('p#1');
    const request = { type: TransferType.BULK, endpoint: 0x81, length: 100, zeroLengthPacket: false };
    tap.submitted({ busNumber: 1, deviceAddress: 2 }, request);
    tap.completed({ busNumber: 1, deviceAddress: 2 }, request, { status: TransferStatus.COMPLETED, data: new Uint8Array(100).fill(7) });
    const file = readCaptureFile(bytes());
    const completion = file.packets[1];
    expect(completion.data.length).toBe(64 + 8);
    expect(completion.originalLength).toBe(64 + 100);
    const exchange = readUsbCapture(bytes()).exchanges[0];
    expect(exchange.completion).toMatchObject({ length: 100, dataComplete: false, data: new Uint8Array(8).fill(7) });
  });

  it('stops at its size limit, says so once (in the capture too), and the file stays readable', () => {
    const { recorder, logs, bytes } = memoryRecorder({ maxBytes: 8192 });
    const tap = recorder.program('p#1');
    const request = { type: TransferType.BULK, endpoint: 0x01, length: 1000, data: new Uint8Array(1000), zeroLengthPacket: false };
    for (let i = 0; i < 50; i++) {
      tap.submitted({ busNumber: 1, deviceAddress: 2 }, request);
      tap.completed({ busNumber: 1, deviceAddress: 2 }, request, { status: TransferStatus.COMPLETED, bytesWritten: 1000 });
    }
    expect(recorder.limitReached).toBe(true);
    expect(bytes().length).toBeLessThanOrEqual(8192);
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatch(/reached its size limit of 8192 bytes; later transfers are not recorded \(raise the limit/);
    const file = readCaptureFile(bytes());
    expect(file.packets.length).toBeGreaterThan(2);
    expect(file.packets.at(-1)!.comments[0]).toBe(logs[0]);
  });

  it('rejects a size limit or snap length that makes no sense', () => {
    expect(() => memoryRecorder({ maxBytes: 100 })).toThrow(/size limit must be more than 4096 bytes/);
    expect(() => memoryRecorder({ snapLength: -1 })).toThrow(/snap length must be 0 or more/);
  });
});
