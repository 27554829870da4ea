/**
 * A usbmon capture read back as USB exchanges: each submission paired
 * with its completion (same interface, same URB id), in file order, with
 * annotations and comments kept. Replay (ts/sim/models/replay.ts) and the
 * tests read captures through this.
 * @module
 */
import type { TransferTypeCode } from '../constants.js';
import { readCaptureFile, type CaptureFile } from './pcapng.js';
import { LINKTYPE_USB_LINUX, LINKTYPE_USB_LINUX_MMAPPED, decodeUsbmon, libusbTransferType, type UsbmonIsoDescriptor, type UsbmonRecord } from './usbmon.js';

/** One side of an exchange: what the record carried. */
export interface ExchangeHalf {
  /** Its position among the capture's usbmon records (file order). */
  index: number;
  /** Microseconds since the epoch. */
  timestampMicros: number;
  /** usbmon status: -EINPROGRESS, 0 or a negative errno. */
  status: number;
  /** urb_len: bytes asked for (submission) or done (completion). */
  length: number;
  /** The data present (OUT at submission, IN at completion). */
  data?: Uint8Array;
  /** False when a snap length cut the data. */
  dataComplete: boolean;
  /** Isochronous packet descriptors. */
  isoDescriptors?: UsbmonIsoDescriptor[];
  /** Packet comments. */
  comments: string[];
}

/** A transfer as captured: its submission and its completion (either may be missing at the capture's edges). */
export interface UsbExchange {
  /** Index of the capture interface (a program) it was recorded on. */
  interfaceIndex: number;
  /** Bus number. */
  busNumber: number;
  /** Device address. */
  deviceAddress: number;
  /** libusb transfer type. */
  type: TransferTypeCode;
  /** Endpoint address with the direction bit (control: 0x00 or 0x80). */
  endpoint: number;
  /** Control transfers: the 8-byte setup packet. */
  setup?: Uint8Array;
  /** The 'S' record. */
  submission?: ExchangeHalf;
  /** The 'C' record. */
  completion?: ExchangeHalf;
}

/** An annotation: a record the recorder writes for a control-plane event (type '@'), with its text. */
export interface CaptureAnnotation {
  /** Position among the usbmon records. */
  index: number;
  /** The interface it was recorded on. */
  interfaceIndex: number;
  /** Bus and address of the device it is about (0 when none). */
  busNumber: number;
  /** Address of that device. */
  deviceAddress: number;
  /** Its comments. */
  comments: string[];
}

/** A capture read as exchanges. */
export interface UsbCapture {
  /** The file's interfaces (name: the program). */
  interfaces: CaptureFile['interfaces'];
  /** Every exchange, ordered by its first record. */
  exchanges: UsbExchange[];
  /** Every annotation. */
  annotations: CaptureAnnotation[];
}

/** Read a pcapng or pcap capture of usbmon records (link type 220 or 189); packets of other link types are skipped. */
export function readUsbCapture(bytes: Uint8Array): UsbCapture {
  const file = readCaptureFile(bytes);
  const exchanges: UsbExchange[] = [];
  const annotations: CaptureAnnotation[] = [];
  const open = new Map<string, UsbExchange>();
  let index = 0;
  for (const packet of file.packets) {
    const iface = file.interfaces[packet.interfaceIndex];
    if (iface.linkType !== LINKTYPE_USB_LINUX_MMAPPED && iface.linkType !== LINKTYPE_USB_LINUX) continue;
    let record: UsbmonRecord;
    try {
      record = decodeUsbmon(packet.data, iface.linkType, iface.littleEndian);
    } catch (e) {
      throw new Error(`capture record ${index + 1}: ${(e as Error).message}`);
    }
    const at = index++;
    if (record.type === '@') {
      annotations.push({ index: at, interfaceIndex: packet.interfaceIndex, busNumber: record.busNumber, deviceAddress: record.deviceAddress, comments: packet.comments });
      continue;
    }
    if (record.type !== 'S' && record.type !== 'C') continue; // 'E': the URB never reached the device
    const half: ExchangeHalf = {
      index: at, timestampMicros: packet.timestampMicros, status: record.status, length: record.urbLength,
      data: record.data, dataComplete: packet.data.length >= packet.originalLength, isoDescriptors: record.isoDescriptors,
      comments: packet.comments,
    };
    const key = `${packet.interfaceIndex}/${record.busNumber}/${record.id}`;
    if (record.type === 'S') {
      const exchange: UsbExchange = {
        interfaceIndex: packet.interfaceIndex, busNumber: record.busNumber, deviceAddress: record.deviceAddress,
        type: libusbTransferType(record.transferType), endpoint: record.endpoint, setup: record.setup, submission: half,
      };
      open.set(key, exchange);
      exchanges.push(exchange);
    } else {
      const exchange = open.get(key);
      if (exchange) {
        open.delete(key);
        exchange.completion = half;
      } else {
        // submitted before the capture began
        exchanges.push({
          interfaceIndex: packet.interfaceIndex, busNumber: record.busNumber, deviceAddress: record.deviceAddress,
          type: libusbTransferType(record.transferType), endpoint: record.endpoint, completion: half,
        });
      }
    }
  }
  return { interfaces: file.interfaces, exchanges, annotations };
}

/** Whether an exchange's direction is IN (control: by its setup packet). */
export function isInExchange(exchange: UsbExchange): boolean {
  return exchange.setup ? (exchange.setup[0] & 0x80) !== 0 : (exchange.endpoint & 0x80) !== 0;
}
