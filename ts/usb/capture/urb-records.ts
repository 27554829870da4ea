/**
 * The usbmon records the kernel would write for what the transport host
 * reports: a transfer's submission and completion, the standard requests
 * behind libusb's set-configuration, set-alternate and clear-halt calls,
 * the GET_DESCRIPTOR exchanges of an enumeration, and annotations.
 * Pure functions: the recorder (recorder.ts) keeps ids and writes them.
 * @module
 */
import { DescriptorType, ErrorCode, RequestType, Speed, StandardRequest, TransferStatus, TransferType } from '../constants.js';
import type { TransferStatusCode } from '../constants.js';
import { encodeSetupPacket } from '../setup-packet.js';
import { languageDescriptor, stringDescriptor } from '../string-descriptors.js';
import type { CaptureCompletion, CaptureDevice, CaptureEvent, CaptureRequest } from './tap.js';
import { Errno, UrbFlag, UsbmonTransferType, usbmonStatus, usbmonTransferType, type UsbmonIsoDescriptor, type UsbmonRecord } from './usbmon.js';

const NO_DATA_IN = '<'.charCodeAt(0);
const NO_DATA_OUT = '>'.charCodeAt(0);
const NOT_RELEVANT = '-'.charCodeAt(0);

/** Whether a transfer moves data device-to-host (control: by bmRequestType). */
function isInTransfer(request: CaptureRequest): boolean {
  if (request.type === TransferType.CONTROL) return ((request.setup?.bmRequestType ?? 0) & RequestType.DIR_IN) !== 0;
  return (request.endpoint & 0x80) !== 0;
}

/** What a submission and its completion share. `interval`: the URB's polling interval (interrupt, isochronous). */
function header(id: bigint, type: 'S' | 'C', device: CaptureDevice, request: CaptureRequest, interval: number): UsbmonRecord {
  const isIn = isInTransfer(request);
  let flags = isIn ? UrbFlag.DIR_IN : 0;
  if (request.zeroLengthPacket) flags |= UrbFlag.ZERO_PACKET;
  if (request.type === TransferType.ISOCHRONOUS) flags |= UrbFlag.ISO_ASAP;
  const record: UsbmonRecord = {
    id, type, transferType: usbmonTransferType(request.type),
    endpoint: request.type === TransferType.CONTROL ? (isIn ? 0x80 : 0) : request.endpoint,
    deviceAddress: device.deviceAddress, busNumber: device.busNumber, seconds: 0, microseconds: 0,
    status: 0, urbLength: 0, transferFlags: flags,
  };
  if (request.type === TransferType.INTERRUPT || request.type === TransferType.ISOCHRONOUS) record.interval = interval;
  return record;
}

/** The 'S' record: setup packet, OUT data (a view: encode it before the call returns), isochronous packet lengths. */
export function submissionRecord(id: bigint, device: CaptureDevice, request: CaptureRequest, interval = 0): UsbmonRecord {
  const r = header(id, 'S', device, request, interval);
  const isIn = isInTransfer(request);
  r.status = -Errno.EINPROGRESS;
  r.urbLength = request.length;
  if (request.setup) r.setup = encodeSetupPacket(request.setup);
  if (!isIn && request.length) r.data = request.data?.subarray(0, request.length) ?? new Uint8Array(request.length);
  else r.dataFlag = NO_DATA_IN;
  if (request.type === TransferType.ISOCHRONOUS) {
    const lengths = request.isoPacketLengths ?? [];
    let offset = 0;
    r.isoDescriptors = Array.from(lengths, (length) => {
      const d = { status: -Errno.EXDEV, offset, length }; // usb_submit_urb marks every packet not done yet
      offset += length;
      return d;
    });
    r.packetCount = lengths.length;
    r.errorCount = 0;
  }
  return r;
}

/** The 'C' record: status, bytes done, IN data (a view), isochronous packet outcomes. */
export function completionRecord(id: bigint, device: CaptureDevice, request: CaptureRequest, completion: CaptureCompletion,
  interval = 0): UsbmonRecord {
  const r = header(id, 'C', device, request, interval);
  const isIn = isInTransfer(request);
  const status = completion.status as TransferStatusCode;
  r.status = usbmonStatus(status);
  if (request.type === TransferType.ISOCHRONOUS) {
    isoCompletion(r, request, completion, isIn);
  } else if (isIn) {
    const data = completion.data?.subarray(0, request.length) ?? new Uint8Array(0);
    r.urbLength = data.length;
    if (data.length) r.data = data;
    else r.dataFlag = NO_DATA_IN;
  } else {
    r.urbLength = Math.min(completion.bytesWritten ?? (status === TransferStatus.COMPLETED ? request.length : 0), request.length);
    r.dataFlag = NO_DATA_OUT;
  }
  return r;
}

/**
 * Packets at their offsets in the buffer, as the kernel lays them out; the
 * data runs to the last byte received. A packet longer than asked is an
 * overflow, as the host reports it to libusb.
 */
function isoCompletion(r: UsbmonRecord, request: CaptureRequest, completion: CaptureCompletion, isIn: boolean): void {
  const lengths = request.isoPacketLengths ?? [];
  const packets = completion.isoPackets ?? [];
  const descriptors: UsbmonIsoDescriptor[] = [];
  let offset = 0;
  let end = 0;
  let total = 0;
  let errors = 0;
  for (let i = 0; i < lengths.length; i++) {
    const want = lengths[i];
    const p = packets[i];
    let status = p ? p.status : completion.status === TransferStatus.COMPLETED ? TransferStatus.ERROR : completion.status;
    let actual = 0;
    if (p && isIn && p.data) {
      actual = Math.min(p.data.length, want);
      if (p.data.length > want && status === TransferStatus.COMPLETED) status = TransferStatus.OVERFLOW;
    } else if (p && !isIn) {
      actual = Math.min(p.length ?? want, want);
    }
    const errno = usbmonStatus(status as TransferStatusCode);
    if (errno) errors++;
    descriptors.push({ status: errno, offset, length: actual });
    total += actual;
    if (actual) end = offset + actual;
    offset += want;
  }
  r.isoDescriptors = descriptors;
  r.packetCount = lengths.length;
  r.errorCount = errors;
  r.urbLength = total;
  if (isIn && end) {
    const data = new Uint8Array(end);
    descriptors.forEach((d, i) => {
      const p = packets[i];
      if (p?.data && d.length) data.set(p.data.subarray(0, d.length), d.offset);
    });
    r.data = data;
  } else {
    r.dataFlag = isIn ? NO_DATA_IN : NO_DATA_OUT;
  }
}

/** An annotation: type '@', control endpoint 0 of the device (bus 0 address 0 when none), the text goes in a comment. */
export function annotationRecord(device: CaptureDevice | undefined): UsbmonRecord {
  return {
    id: 0n, type: '@', transferType: UsbmonTransferType.CONTROL, endpoint: 0,
    deviceAddress: device?.deviceAddress ?? 0, busNumber: device?.busNumber ?? 0, seconds: 0, microseconds: 0,
    status: 0, urbLength: 0, dataFlag: NOT_RELEVANT,
  };
}

/** The standard request a control-plane event is on the bus, for those that are one. */
export function standardRequestOf(event: CaptureEvent): CaptureRequest | undefined {
  let setup: CaptureRequest['setup'];
  switch (event.kind) {
    case 'set_configuration':
      // libusb_set_configuration(-1) unconfigures: SET_CONFIGURATION(0)
      setup = { bmRequestType: 0x00, bRequest: StandardRequest.SET_CONFIGURATION, wValue: Math.max(0, event.value) & 0xff, wIndex: 0, wLength: 0 };
      break;
    case 'set_alternate':
      setup = { bmRequestType: 0x01, bRequest: StandardRequest.SET_INTERFACE, wValue: event.alternate, wIndex: event.interface, wLength: 0 };
      break;
    case 'clear_halt':
      setup = { bmRequestType: 0x02, bRequest: StandardRequest.CLEAR_FEATURE, wValue: 0, wIndex: event.endpoint, wLength: 0 };
      break;
    default:
      return undefined;
  }
  return { type: TransferType.CONTROL, endpoint: 0, setup, length: 0, zeroLengthPacket: false };
}

/**
 * How a standard request libusb sent ended on the device, from the call's
 * libusb error code; undefined when the host refused it before it reached
 * the device (busy, access, bad parameter): the kernel sends nothing then.
 */
export function deviceOutcome(status: number): TransferStatusCode | undefined {
  switch (status) {
    case ErrorCode.SUCCESS: return TransferStatus.COMPLETED;
    case ErrorCode.NO_DEVICE: return TransferStatus.NO_DEVICE;
    case ErrorCode.PIPE:
    case ErrorCode.NOT_FOUND:
    case ErrorCode.IO: return TransferStatus.STALL;
    default: return undefined;
  }
}

/**
 * The GET_DESCRIPTOR exchanges that read a device's descriptors, as the
 * kernel does when it enumerates it: the device descriptor, each
 * configuration's first 9 bytes and then all of it, the BOS likewise,
 * the language list and the strings the host knows (US English).
 */
export function enumerationExchanges(device: CaptureDevice): { request: CaptureRequest; answer: Uint8Array }[] {
  const d = device.descriptors;
  if (!d) return [];
  const reads: [type: number, index: number, language: number, bytes: Uint8Array][] = [[DescriptorType.DEVICE, 0, 0, d.device]];
  d.configurations.forEach((c, i) => reads.push([DescriptorType.CONFIG, i, 0, c.subarray(0, 9)], [DescriptorType.CONFIG, i, 0, c]));
  if (d.bos) reads.push([DescriptorType.BOS, 0, 0, d.bos.subarray(0, 5)], [DescriptorType.BOS, 0, 0, d.bos]);
  const s = device.strings;
  const texts = [s?.manufacturer, s?.product, s?.serialNumber];
  if (texts.some((t) => t !== undefined)) {
    reads.push([DescriptorType.STRING, 0, 0, languageDescriptor([0x0409])]);
    texts.forEach((text, i) => {
      const index = d.device[14 + i];
      if (text !== undefined && index) reads.push([DescriptorType.STRING, index, 0x0409, stringDescriptor(text)]);
    });
  }
  return reads.map(([type, index, language, answer]) => ({
    answer,
    request: {
      type: TransferType.CONTROL, endpoint: 0x80, length: answer.length, zeroLengthPacket: false,
      setup: { bmRequestType: RequestType.DIR_IN, bRequest: StandardRequest.GET_DESCRIPTOR, wValue: (type << 8) | index, wIndex: language, wLength: answer.length },
    },
  }));
}

/** bInterval and kind of each endpoint address (the first seen over every configuration and alternate setting). */
export type EndpointIntervals = Map<number, { bInterval: number; isochronous: boolean }>;

/** Read the endpoints' bInterval from raw configuration descriptors. */
export function endpointIntervals(configurations: readonly Uint8Array[]): EndpointIntervals {
  const map: EndpointIntervals = new Map();
  for (const c of configurations) {
    for (let at = 0; at + 2 <= c.length && c[at] >= 2; at += c[at]) {
      if (c[at + 1] !== DescriptorType.ENDPOINT || c[at] < 7 || at + 7 > c.length || map.has(c[at + 2])) continue;
      map.set(c[at + 2], { bInterval: c[at + 6], isochronous: (c[at + 3] & 3) === 1 });
    }
  }
  return map;
}

/** The URB interval the kernel uses: 2^(bInterval-1) (micro)frames, or bInterval frames for a slow interrupt endpoint. */
export function urbInterval(intervals: EndpointIntervals, endpoint: number, speed: number = Speed.HIGH): number {
  const e = intervals.get(endpoint & 0xff);
  if (!e?.bInterval) return 0;
  return e.isochronous || speed >= Speed.HIGH ? 1 << (Math.min(e.bInterval, 16) - 1) : e.bInterval;
}
