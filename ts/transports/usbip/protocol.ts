/**
 * The USB/IP wire protocol, version 1.1.1, as Linux documents it
 * (Documentation/usb/usbip_protocol.rst) and as its usbip-host and vhci-hcd
 * drivers speak it: message layouts, encoders, and one strict incremental
 * parser, used by both the client transport and the server.
 *
 * Every field is big-endian. A connection starts with one operation
 * (OP_REQ_DEVLIST, answered and closed, or OP_REQ_IMPORT); after a
 * successful import it carries URBs: USBIP_CMD_SUBMIT / USBIP_RET_SUBMIT and
 * USBIP_CMD_UNLINK / USBIP_RET_UNLINK, all with a 48-byte header.
 *
 * The incremental parser that frames and checks what a peer sends is in
 * ./parser.ts.
 * @module
 */

/** The protocol version in every operation header (1.1.1). */
export const USBIP_VERSION = 0x0111;
/** USB/IP's TCP port. */
export const USBIP_PORT = 3240;

/** Operation codes (the connection's first message and its reply). */
export const OpCode = {
  REQ_DEVLIST: 0x8005,
  REP_DEVLIST: 0x0005,
  REQ_IMPORT: 0x8003,
  REP_IMPORT: 0x0003,
} as const;

/** Status of an operation reply (usbip_common.h). */
export const OpStatus = {
  OK: 0,
  /** Not available (Linux's usbipd answers this for every failed import). */
  NA: 1,
  DEV_BUSY: 2,
  DEV_ERR: 3,
  NODEV: 4,
  ERROR: 5,
} as const;

/** URB commands (usbip_header_basic.command). */
export const Command = {
  CMD_SUBMIT: 1,
  CMD_UNLINK: 2,
  RET_SUBMIT: 3,
  RET_UNLINK: 4,
} as const;

/** usbip_header_basic.direction. */
export const Direction = { OUT: 0, IN: 1 } as const;

export const OP_HEADER_SIZE = 8;
export const URB_HEADER_SIZE = 48;
export const PATH_SIZE = 256;
export const BUSID_SIZE = 32;
/** struct usbip_usb_device on the wire. */
export const DEVICE_INFO_SIZE = 0x138;
export const INTERFACE_INFO_SIZE = 4;
export const ISO_DESCRIPTOR_SIZE = 16;
/** Linux's USBIP_MAX_ISO_PACKETS. */
export const MAX_ISO_PACKETS = 1024;
/** number_of_packets of a transfer that is not isochronous (the spec's value; Linux sends 0). */
export const NOT_ISOCHRONOUS = 0xffffffff;
/** Default bound on one transfer's buffer (a hostile peer cannot make us allocate more). */
export const DEFAULT_MAX_TRANSFER_LENGTH = 16 * 1024 * 1024;

/**
 * SET_FEATURE(PORT_RESET) to the device's port (bmRequestType 0x23, class
 * request to "other": the hub port): usbip-host resets the device for it
 * rather than passing it on (stub_rx.c), so a client resets a device with it.
 */
export const PORT_RESET_REQUEST = { bmRequestType: 0x23, feature: 4 } as const;

/** The devid of commands for a device: (busnum << 16) | devnum, each 16 bits. */
export const devidOf = (bus: number, dev: number): number => (((bus & 0xffff) << 16) | (dev & 0xffff)) >>> 0;

/** One interface of an exported device, as OP_REP_DEVLIST lists it. */
export interface UsbipInterfaceInfo {
  interfaceClass: number;
  interfaceSubclass: number;
  interfaceProtocol: number;
}

/** An exported device (struct usbip_usb_device). */
export interface UsbipDeviceInfo {
  /** Where the device sits on the server, e.g. "/sys/devices/pci0000:00/0000:00:1d.1/usb3/3-2". */
  path: string;
  /** The server's name for it, e.g. "3-2": what OP_REQ_IMPORT asks for. */
  busid: string;
  busnum: number;
  devnum: number;
  /** Linux's enum usb_device_speed (see status.ts for libusb's). */
  speed: number;
  vendorId: number;
  productId: number;
  bcdDevice: number;
  deviceClass: number;
  deviceSubclass: number;
  deviceProtocol: number;
  configurationValue: number;
  numConfigurations: number;
  numInterfaces: number;
  /** OP_REP_DEVLIST only: one entry per interface. */
  interfaces: UsbipInterfaceInfo[];
}

/** One isochronous packet (struct usbip_iso_packet_descriptor). */
export interface IsoPacketDescriptor {
  offset: number;
  length: number;
  actualLength: number;
  /** 0 or a negative errno. */
  status: number;
}

/** USBIP_CMD_SUBMIT. */
export interface CmdSubmit {
  type: 'cmd-submit';
  seqnum: number;
  /** (busnum << 16) | devnum of the imported device. */
  devid: number;
  /** {@link Direction}. */
  direction: number;
  /** Endpoint number, 0..15. */
  endpoint: number;
  transferFlags: number;
  transferBufferLength: number;
  startFrame: number;
  /** Isochronous packets, or 0 / {@link NOT_ISOCHRONOUS}. */
  numberOfPackets: number;
  interval: number;
  /** The 8-byte SETUP packet (zeros unless control). */
  setup: Uint8Array;
  /** OUT data (transferBufferLength bytes). */
  data?: Uint8Array;
  isoPackets?: IsoPacketDescriptor[];
}

/** USBIP_RET_SUBMIT. */
export interface RetSubmit {
  type: 'ret-submit';
  seqnum: number;
  /** 0 or a negative errno. */
  status: number;
  actualLength: number;
  startFrame: number;
  numberOfPackets: number;
  errorCount: number;
  /** IN data (actualLength bytes; isochronous: the packets' data back to back). */
  data?: Uint8Array;
  isoPackets?: IsoPacketDescriptor[];
}

/** USBIP_CMD_UNLINK. */
export interface CmdUnlink {
  type: 'cmd-unlink';
  seqnum: number;
  devid: number;
  /** The seqnum of the USBIP_CMD_SUBMIT to unlink. */
  unlinkSeqnum: number;
}

/** USBIP_RET_UNLINK. */
export interface RetUnlink {
  type: 'ret-unlink';
  /** The seqnum of the USBIP_CMD_UNLINK it answers. */
  seqnum: number;
  /** -ECONNRESET: unlinked; 0: the URB had completed already. */
  status: number;
}

/** Every message either side can send. */
export type UsbipMessage =
  | { type: 'req-devlist' }
  | { type: 'req-import'; busid: string }
  | { type: 'rep-devlist'; status: number; devices: UsbipDeviceInfo[] }
  | { type: 'rep-import'; status: number; device?: UsbipDeviceInfo }
  | CmdSubmit | RetSubmit | CmdUnlink | RetUnlink;

/** The peer broke the protocol; the connection must be closed. */
export class UsbipProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsbipProtocolError';
  }
}

// ---- encoders --------------------------------------------------------------

function opHeader(out: DataView, code: number, status: number): void {
  out.setUint16(0, USBIP_VERSION);
  out.setUint16(2, code);
  out.setUint32(4, status);
}

function putString(out: Uint8Array, offset: number, size: number, text: string): void {
  const bytes = new TextEncoder().encode(text);
  if (bytes.length >= size) throw new RangeError(`'${text}' does not fit in ${size - 1} bytes`);
  out.set(bytes, offset);
}

/** struct usbip_usb_device at `offset`. */
function putDeviceInfo(out: Uint8Array, offset: number, d: UsbipDeviceInfo): void {
  putString(out, offset, PATH_SIZE, d.path);
  putString(out, offset + PATH_SIZE, BUSID_SIZE, d.busid);
  const v = new DataView(out.buffer, out.byteOffset + offset);
  v.setUint32(0x120, d.busnum);
  v.setUint32(0x124, d.devnum);
  v.setUint32(0x128, d.speed);
  v.setUint16(0x12c, d.vendorId);
  v.setUint16(0x12e, d.productId);
  v.setUint16(0x130, d.bcdDevice);
  out.set([d.deviceClass, d.deviceSubclass, d.deviceProtocol, d.configurationValue, d.numConfigurations, d.numInterfaces],
    offset + 0x132);
}

/** OP_REQ_DEVLIST. */
export function encodeReqDevlist(): Uint8Array {
  const out = new Uint8Array(OP_HEADER_SIZE);
  opHeader(new DataView(out.buffer), OpCode.REQ_DEVLIST, 0);
  return out;
}

/** OP_REQ_IMPORT. */
export function encodeReqImport(busid: string): Uint8Array {
  const out = new Uint8Array(OP_HEADER_SIZE + BUSID_SIZE);
  opHeader(new DataView(out.buffer), OpCode.REQ_IMPORT, 0);
  putString(out, OP_HEADER_SIZE, BUSID_SIZE, busid);
  return out;
}

/** OP_REP_DEVLIST: each device followed by its interfaces. */
export function encodeRepDevlist(devices: UsbipDeviceInfo[]): Uint8Array {
  const size = devices.reduce((n, d) => n + DEVICE_INFO_SIZE + INTERFACE_INFO_SIZE * d.interfaces.length, OP_HEADER_SIZE + 4);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  opHeader(view, OpCode.REP_DEVLIST, OpStatus.OK);
  view.setUint32(OP_HEADER_SIZE, devices.length);
  let off = OP_HEADER_SIZE + 4;
  for (const d of devices) {
    putDeviceInfo(out, off, { ...d, numInterfaces: d.interfaces.length });
    off += DEVICE_INFO_SIZE;
    for (const i of d.interfaces) {
      out.set([i.interfaceClass, i.interfaceSubclass, i.interfaceProtocol, 0], off);
      off += INTERFACE_INFO_SIZE;
    }
  }
  return out;
}

/** OP_REP_IMPORT: the device when the import succeeded, the status alone when not. */
export function encodeRepImport(status: number, device?: UsbipDeviceInfo): Uint8Array {
  const ok = status === OpStatus.OK && device;
  const out = new Uint8Array(OP_HEADER_SIZE + (ok ? DEVICE_INFO_SIZE : 0));
  opHeader(new DataView(out.buffer), OpCode.REP_IMPORT, status);
  if (ok) putDeviceInfo(out, OP_HEADER_SIZE, device);
  return out;
}

function putIso(view: DataView, offset: number, packets: IsoPacketDescriptor[]): void {
  for (const p of packets) {
    view.setUint32(offset, p.offset);
    view.setUint32(offset + 4, p.length);
    view.setUint32(offset + 8, p.actualLength);
    view.setInt32(offset + 12, p.status);
    offset += ISO_DESCRIPTOR_SIZE;
  }
}

/** A URB message's 48-byte header, every field not filled in zero. */
function urbHeader(fill: (view: DataView) => void): Uint8Array {
  const header = new Uint8Array(URB_HEADER_SIZE);
  fill(new DataView(header.buffer));
  return header;
}

/** A URB message's parts: its header, its payload (not copied) and its iso descriptors. */
function urbParts(payload: Uint8Array | undefined, iso: IsoPacketDescriptor[] | undefined, fill: (view: DataView) => void): Uint8Array[] {
  const parts: Uint8Array[] = [urbHeader(fill)];
  if (payload?.length) parts.push(payload);
  if (iso?.length) {
    const descriptors = new Uint8Array(iso.length * ISO_DESCRIPTOR_SIZE);
    putIso(new DataView(descriptors.buffer), 0, iso);
    parts.push(descriptors);
  }
  return parts;
}

/** Parts in one buffer (a payload is copied once, here). */
function joined(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** The size of a USBIP_CMD_SUBMIT: its header, its data and its iso descriptors. */
export function cmdSubmitSize(m: Pick<CmdSubmit, 'data' | 'isoPackets'>): number {
  return URB_HEADER_SIZE + (m.data?.length ?? 0) + (m.isoPackets?.length ?? 0) * ISO_DESCRIPTOR_SIZE;
}

/**
 * USBIP_CMD_SUBMIT (`data` for OUT only), written straight into one buffer
 * (`into` when it is large enough, else a new one of {@link cmdSubmitSize}):
 * the client's data is copied into it, so the program may reuse its buffer
 * whatever happens to the message afterwards. Every byte of the message is
 * written (`into` may hold an earlier message).
 */
export function encodeCmdSubmit(m: Omit<CmdSubmit, 'type'>, into?: Uint8Array): Uint8Array {
  const size = cmdSubmitSize(m);
  const out = into && into.length >= size ? into.subarray(0, size) : new Uint8Array(size);
  const v = new DataView(out.buffer, out.byteOffset, size);
  v.setUint32(0, Command.CMD_SUBMIT);
  v.setUint32(4, m.seqnum);
  v.setUint32(8, m.devid);
  v.setUint32(12, m.direction);
  v.setUint32(16, m.endpoint);
  v.setUint32(20, m.transferFlags);
  v.setInt32(24, m.transferBufferLength);
  v.setInt32(28, m.startFrame);
  v.setUint32(32, m.numberOfPackets);
  v.setInt32(36, m.interval);
  const setup = m.setup.subarray(0, 8);
  out.set(setup, 40);
  if (setup.length < 8) out.fill(0, 40 + setup.length, URB_HEADER_SIZE);
  let offset = URB_HEADER_SIZE;
  if (m.data?.length) {
    out.set(m.data, offset);
    offset += m.data.length;
  }
  if (m.isoPackets?.length) putIso(v, offset, m.isoPackets);
  return out;
}

/**
 * USBIP_RET_SUBMIT as its parts (`data` for IN only: isochronous packets
 * back to back, without the gaps), the data not copied: a server writes
 * them together.
 */
export function retSubmitParts(m: Omit<RetSubmit, 'type'>): Uint8Array[] {
  return urbParts(m.data, m.isoPackets, (v) => {
    v.setUint32(0, Command.RET_SUBMIT);
    v.setUint32(4, m.seqnum);
    v.setInt32(20, m.status);
    v.setInt32(24, m.actualLength);
    v.setInt32(28, m.startFrame);
    v.setUint32(32, m.numberOfPackets);
    v.setInt32(36, m.errorCount);
  });
}

/** USBIP_RET_SUBMIT in one buffer. */
export function encodeRetSubmit(m: Omit<RetSubmit, 'type'>): Uint8Array {
  return joined(retSubmitParts(m));
}

/** USBIP_CMD_UNLINK. */
export function encodeCmdUnlink(m: Omit<CmdUnlink, 'type'>): Uint8Array {
  return urbHeader((v) => {
    v.setUint32(0, Command.CMD_UNLINK);
    v.setUint32(4, m.seqnum);
    v.setUint32(8, m.devid);
    v.setUint32(20, m.unlinkSeqnum);
  });
}

/** USBIP_RET_UNLINK. */
export function encodeRetUnlink(m: Omit<RetUnlink, 'type'>): Uint8Array {
  return urbHeader((v) => {
    v.setUint32(0, Command.RET_UNLINK);
    v.setUint32(4, m.seqnum);
    v.setInt32(20, m.status);
  });
}

// ---- decoders of fixed structures (the parser frames messages with them) ----

/** A status field: 0 or a negative errno (anything else is a protocol error). */
export function checkErrno(status: number, what: string): number {
  if (status > 0 || status < -4095) fail(`${what}: status ${status} is not 0 or a negative errno`);
  return status;
}

/** Throw a {@link UsbipProtocolError}. */
export function fail(message: string): never {
  throw new UsbipProtocolError(message);
}

/** `count` iso packet descriptors. */
export function decodeIsoDescriptors(b: Uint8Array, count: number): IsoPacketDescriptor[] {
  const v = new DataView(b.buffer, b.byteOffset, b.length);
  const out: IsoPacketDescriptor[] = [];
  for (let i = 0; i < count; i++) {
    const o = i * ISO_DESCRIPTOR_SIZE;
    out.push({ offset: v.getUint32(o), length: v.getUint32(o + 4), actualLength: v.getUint32(o + 8), status: v.getInt32(o + 12) });
  }
  return out;
}

/** A NUL-terminated string field of printable ASCII. */
export function decodeString(b: Uint8Array, offset: number, size: number, name: string): string {
  const end = b.subarray(offset, offset + size).indexOf(0);
  if (end < 0) fail(`${name} is not NUL-terminated within ${size} bytes`);
  let s = '';
  for (let i = offset; i < offset + end; i++) {
    if (b[i] < 0x20 || b[i] > 0x7e) fail(`${name} has a byte 0x${b[i].toString(16)} that is not printable ASCII`);
    s += String.fromCharCode(b[i]);
  }
  return s;
}

/** struct usbip_usb_device (its interfaces, if any, follow it on the wire). */
export function decodeDeviceInfo(b: Uint8Array): UsbipDeviceInfo {
  const v = new DataView(b.buffer, b.byteOffset, DEVICE_INFO_SIZE);
  const busid = decodeString(b, PATH_SIZE, BUSID_SIZE, 'busid');
  if (!busid) fail('a device with an empty busid');
  return {
    path: decodeString(b, 0, PATH_SIZE, 'path'),
    busid,
    busnum: v.getUint32(0x120),
    devnum: v.getUint32(0x124),
    speed: v.getUint32(0x128),
    vendorId: v.getUint16(0x12c),
    productId: v.getUint16(0x12e),
    bcdDevice: v.getUint16(0x130),
    deviceClass: b[0x132],
    deviceSubclass: b[0x133],
    deviceProtocol: b[0x134],
    configurationValue: b[0x135],
    numConfigurations: b[0x136],
    numInterfaces: b[0x137],
    interfaces: [],
  };
}
