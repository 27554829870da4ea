/**
 * The Linux usbmon record, as the kernel's binary interface
 * (/dev/usbmonN) hands it out and as pcap and pcapng files carry it
 * (LINKTYPE_USB_LINUX_MMAPPED, 220): a 64-byte header, then one 16-byte
 * descriptor per isochronous packet, then the data. Wireshark's usbmon
 * dissector reads it, so a capture in this format shows descriptors,
 * requests and class protocols without plugins. The older
 * LINKTYPE_USB_LINUX (189: a 48-byte header, no isochronous descriptors)
 * is read too.
 *
 * Layout (struct usbmon_packet, Documentation/usb/usbmon.rst), in the
 * byte order of the file:
 *   0 u64 id        URB id: the same for a submission and its completion
 *   8 u8  type      'S' submission, 'C' completion, 'E' submission error
 *   9 u8  xfer_type 0 isochronous, 1 interrupt, 2 control, 3 bulk
 *  10 u8  epnum     endpoint number, 0x80 for IN (control IN too)
 *  11 u8  devnum    device address
 *  12 u16 busnum
 *  14 u8  flag_setup  0: the setup packet follows at 40; '-' otherwise
 *  15 u8  flag_data   0: data follows; '<' (IN submission), '>' (OUT completion)...
 *  16 s64 ts_sec, 24 s32 ts_usec
 *  28 s32 status    -EINPROGRESS for a submission, 0 or a negative errno
 *  32 u32 urb_len   bytes asked for (submission) or done (completion)
 *  36 u32 len_cap   bytes that follow the header (descriptors and data)
 *  40 u8[8] setup, or s32 error_count, s32 numdesc (isochronous)
 *  48 s32 interval, 52 s32 start_frame, 56 u32 xfer_flags, 60 u32 ndesc
 * @module
 */
import { TransferStatus, TransferType, type TransferStatusCode, type TransferTypeCode } from '../constants.js';

/** pcap/pcapng link type of usbmon records with the 48-byte header. */
export const LINKTYPE_USB_LINUX = 189;
/** pcap/pcapng link type of usbmon records with the 64-byte header (what the recorder writes). */
export const LINKTYPE_USB_LINUX_MMAPPED = 220;
/** Header bytes per link type. */
const HEADER_SIZE: Record<number, number> = { [LINKTYPE_USB_LINUX]: 48, [LINKTYPE_USB_LINUX_MMAPPED]: 64 };
/** One isochronous packet descriptor: s32 status, u32 offset, u32 length, u32 padding. */
export const ISO_DESCRIPTOR_SIZE = 16;

/** The record's `type`: submission, completion, submission error; '@' is the kernel's filler, which the recorder uses for annotations. */
export type UsbmonEventType = 'S' | 'C' | 'E' | '@';

/** usbmon's transfer types (the kernel's PIPE_* values, not libusb's). */
export const UsbmonTransferType = {
  ISOCHRONOUS: 0,
  INTERRUPT: 1,
  CONTROL: 2,
  BULK: 3,
} as const;

/** Linux errno values that usbmon statuses are made of (negated). */
export const Errno = {
  ENOENT: 2,
  EXDEV: 18,
  ENODEV: 19,
  EPIPE: 32,
  ETIME: 62,
  EPROTO: 71,
  EOVERFLOW: 75,
  EILSEQ: 84,
  ECONNRESET: 104,
  ESHUTDOWN: 108,
  EINPROGRESS: 115,
  EREMOTEIO: 121,
} as const;

/** URB transfer_flags bits the recorder sets (include/linux/usb.h). */
export const UrbFlag = {
  SHORT_NOT_OK: 0x0001,
  ISO_ASAP: 0x0002,
  ZERO_PACKET: 0x0040,
  DIR_IN: 0x0200,
} as const;

/** One isochronous packet: status (0 or a negative errno), offset in the buffer, length (asked, or done). */
export interface UsbmonIsoDescriptor {
  status: number;
  offset: number;
  length: number;
}

/** A usbmon record, decoded. */
export interface UsbmonRecord {
  /** The URB id, pairing a submission with its completion (64 bits: the kernel uses addresses). */
  id: bigint;
  /** 'S', 'C' or 'E'. */
  type: UsbmonEventType;
  /** One of {@link UsbmonTransferType}. */
  transferType: number;
  /** Endpoint address with the direction bit (0x80: IN), control transfers included. */
  endpoint: number;
  /** Device address on its bus. */
  deviceAddress: number;
  /** Bus number. */
  busNumber: number;
  /** The setup packet (control submissions). */
  setup?: Uint8Array;
  /** Seconds since the epoch. */
  seconds: number;
  /** Microseconds within the second. */
  microseconds: number;
  /** -EINPROGRESS for a submission; 0 or a negative errno for a completion. */
  status: number;
  /** Bytes asked for (submission) or transferred (completion). */
  urbLength: number;
  /** Isochronous: packets in error. */
  errorCount?: number;
  /** Isochronous: packets in the URB. */
  packetCount?: number;
  /** Interrupt and isochronous: the polling interval. */
  interval?: number;
  /** Isochronous: the frame the URB started in. */
  startFrame?: number;
  /** URB transfer_flags ({@link UrbFlag}). */
  transferFlags?: number;
  /** Isochronous packet descriptors. */
  isoDescriptors?: UsbmonIsoDescriptor[];
  /** The data present in the record (possibly cut to a snap length). */
  data?: Uint8Array;
  /** flag_data when no data is present ('<', '>', 'Z'...); 0 when data follows. */
  dataFlag?: number;
}

const CHAR = (c: string) => c.charCodeAt(0);
const PIPE_OF: Record<number, number> = {
  [TransferType.CONTROL]: UsbmonTransferType.CONTROL,
  [TransferType.ISOCHRONOUS]: UsbmonTransferType.ISOCHRONOUS,
  [TransferType.BULK]: UsbmonTransferType.BULK,
  [TransferType.INTERRUPT]: UsbmonTransferType.INTERRUPT,
};
const LIBUSB_OF: Record<number, TransferTypeCode> = {
  [UsbmonTransferType.CONTROL]: TransferType.CONTROL,
  [UsbmonTransferType.ISOCHRONOUS]: TransferType.ISOCHRONOUS,
  [UsbmonTransferType.BULK]: TransferType.BULK,
  [UsbmonTransferType.INTERRUPT]: TransferType.INTERRUPT,
};

/** usbmon's transfer type for a libusb transfer type. */
export function usbmonTransferType(type: TransferTypeCode): number {
  return PIPE_OF[type];
}

/** libusb's transfer type for a usbmon transfer type. */
export function libusbTransferType(type: number): TransferTypeCode {
  const t = LIBUSB_OF[type];
  if (t === undefined) throw new Error(`unknown usbmon transfer type ${type}`);
  return t;
}

/**
 * The status the Linux kernel reports for a URB that ended with a libusb
 * status, as usbfs maps them (libusb's linux_usbfs.c in reverse). libusb
 * times out by cancelling, so TIMED_OUT and CANCELLED are both an unlink:
 * -ECONNRESET.
 */
export function usbmonStatus(status: TransferStatusCode): number {
  switch (status) {
    case TransferStatus.COMPLETED: return 0;
    case TransferStatus.STALL: return -Errno.EPIPE;
    case TransferStatus.TIMED_OUT:
    case TransferStatus.CANCELLED: return -Errno.ECONNRESET;
    case TransferStatus.NO_DEVICE: return -Errno.ESHUTDOWN;
    case TransferStatus.OVERFLOW: return -Errno.EOVERFLOW;
    default: return -Errno.EPROTO;
  }
}

/**
 * The libusb status of a usbmon completion status (linux_usbfs.c's
 * mapping). An unlink (-ENOENT, -ECONNRESET) is CANCELLED; a short
 * transfer refused with URB_SHORT_NOT_OK (-EREMOTEIO) completed.
 */
export function transferStatusOf(status: number): TransferStatusCode {
  switch (-status) {
    case 0:
    case Errno.EREMOTEIO: return TransferStatus.COMPLETED;
    case Errno.EPIPE: return TransferStatus.STALL;
    case Errno.ENOENT:
    case Errno.ECONNRESET: return TransferStatus.CANCELLED;
    case Errno.ESHUTDOWN:
    case Errno.ENODEV: return TransferStatus.NO_DEVICE;
    case Errno.EOVERFLOW: return TransferStatus.OVERFLOW;
    default: return TransferStatus.ERROR;
  }
}

/** Bytes the record takes in a capture (header, descriptors, data). */
export function usbmonRecordSize(record: UsbmonRecord): number {
  return 64 + (record.isoDescriptors?.length ?? 0) * ISO_DESCRIPTOR_SIZE + (record.data?.length ?? 0);
}

/** Encode a record with the 64-byte header, little-endian, into `out` at `offset`; returns the bytes written. */
export function encodeUsbmon(record: UsbmonRecord, out: Uint8Array, offset = 0): number {
  const descriptors = record.isoDescriptors ?? [];
  const data = record.data;
  const size = usbmonRecordSize(record);
  if (offset + size > out.length) throw new RangeError('usbmon record does not fit');
  const v = new DataView(out.buffer, out.byteOffset + offset, size);
  out.fill(0, offset, offset + 64);
  v.setBigUint64(0, BigInt.asUintN(64, record.id), true);
  v.setUint8(8, CHAR(record.type));
  v.setUint8(9, record.transferType);
  v.setUint8(10, record.endpoint);
  v.setUint8(11, record.deviceAddress);
  v.setUint16(12, record.busNumber, true);
  v.setUint8(14, record.setup ? 0 : CHAR('-'));
  v.setUint8(15, data ? 0 : (record.dataFlag ?? 0));
  v.setBigInt64(16, BigInt(record.seconds), true);
  v.setInt32(24, record.microseconds, true);
  v.setInt32(28, record.status, true);
  v.setUint32(32, record.urbLength >>> 0, true);
  v.setUint32(36, descriptors.length * ISO_DESCRIPTOR_SIZE + (data?.length ?? 0), true);
  if (record.setup) out.set(record.setup.subarray(0, 8), offset + 40);
  else if (record.packetCount !== undefined) {
    v.setInt32(40, record.errorCount ?? 0, true);
    v.setInt32(44, record.packetCount, true);
  }
  v.setInt32(48, record.interval ?? 0, true);
  v.setInt32(52, record.startFrame ?? 0, true);
  v.setUint32(56, (record.transferFlags ?? 0) >>> 0, true);
  v.setUint32(60, descriptors.length, true);
  let at = 64;
  for (const d of descriptors) {
    v.setInt32(at, d.status, true);
    v.setUint32(at + 4, d.offset >>> 0, true);
    v.setUint32(at + 8, d.length >>> 0, true);
    at += ISO_DESCRIPTOR_SIZE;
  }
  if (data) out.set(data, offset + at);
  return size;
}

/**
 * Decode a record of link type 220 (64-byte header) or 189 (48-byte
 * header). Throws on a record too short for its header. The data is a view
 * of `bytes`.
 */
export function decodeUsbmon(bytes: Uint8Array, linkType: number, littleEndian = true): UsbmonRecord {
  const headerSize = HEADER_SIZE[linkType];
  if (!headerSize) throw new Error(`link type ${linkType} is not a usbmon link type (189 or 220)`);
  if (bytes.length < headerSize) throw new Error(`usbmon record of ${bytes.length} bytes: shorter than its ${headerSize}-byte header`);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const le = littleEndian;
  const type = String.fromCharCode(v.getUint8(8)) as UsbmonEventType;
  const transferType = v.getUint8(9);
  const flagSetup = v.getUint8(14);
  const flagData = v.getUint8(15);
  const record: UsbmonRecord = {
    id: v.getBigUint64(0, le),
    type,
    transferType,
    endpoint: v.getUint8(10),
    deviceAddress: v.getUint8(11),
    busNumber: v.getUint16(12, le),
    seconds: Number(v.getBigInt64(16, le)),
    microseconds: v.getInt32(24, le),
    status: v.getInt32(28, le),
    urbLength: v.getUint32(32, le),
  };
  if (flagSetup === 0) record.setup = bytes.subarray(40, 48);
  let at = headerSize;
  if (headerSize === 64) {
    record.interval = v.getInt32(48, le);
    record.startFrame = v.getInt32(52, le);
    record.transferFlags = v.getUint32(56, le);
    if (transferType === UsbmonTransferType.ISOCHRONOUS) {
      record.errorCount = v.getInt32(40, le);
      record.packetCount = v.getInt32(44, le);
      const count = v.getUint32(60, le);
      if (headerSize + count * ISO_DESCRIPTOR_SIZE > bytes.length) {
        throw new Error(`usbmon record: ${count} isochronous descriptors do not fit in ${bytes.length} bytes`);
      }
      record.isoDescriptors = [];
      for (let i = 0; i < count; i++, at += ISO_DESCRIPTOR_SIZE) {
        record.isoDescriptors.push({ status: v.getInt32(at, le), offset: v.getUint32(at + 4, le), length: v.getUint32(at + 8, le) });
      }
    }
  }
  const end = Math.min(bytes.length, headerSize + v.getUint32(36, le));
  if (flagData === 0 && at < end) record.data = bytes.subarray(at, end);
  else if (flagData !== 0) record.dataFlag = flagData;
  return record;
}
