/**
 * Reading the records the API shim writes (wasm/api/records.c): libusb's
 * parsed descriptors. wasm/api/api_protocol.h describes them once: each
 * record's fixed fields are a field list there (generated into
 * api-protocol.gen.ts, read here by `Reader.fields`), followed by the
 * counted lists, `extra` bytes and strings its comment describes.
 * @module
 * @internal
 */
import {
  LWA_BOS_DEV_CAPABILITY_FIELDS, LWA_BOS_FIELDS, LWA_CONFIG_FIELDS, LWA_DEVICE_DESCRIPTOR_FIELDS, LWA_DEVICE_FIELDS,
  LWA_ENDPOINT_FIELDS, LWA_INTERFACE_FIELDS, LWA_SS_ENDPOINT_COMPANION_FIELDS,
} from './api-protocol.gen.js';
import type {
  BosDescriptor, BosDevCapability, ConfigDescriptor, DeviceDescriptor, DeviceInfo, DeviceSpeed, EndpointDescriptor,
  Interface, InterfaceDescriptor, SsEndpointCompanionDescriptor,
} from './types.js';

/** A field list from api_protocol.h: names and widths, in record order. */
type FieldList<Name extends string = string> = readonly (readonly [Name, 'u8' | 'u16' | 'u32'])[];
/** A field list whose every name is a field of the public type `T`. */
type FieldListOf<T> = FieldList<keyof T & string>;
/** What reading a field list gives: its names, as numbers. */
type FieldValues<L extends FieldList> = { [F in L[number] as F[0]]: number };

// Each list is held to the public type it fills: a name the type lacks fails
// to compile here, and a field of the type the list lacks fails where the
// object is built below.
const DEVICE = LWA_DEVICE_FIELDS satisfies FieldListOf<DeviceInfo>;
const DEVICE_DESCRIPTOR = LWA_DEVICE_DESCRIPTOR_FIELDS satisfies FieldListOf<DeviceDescriptor>;
const CONFIG = LWA_CONFIG_FIELDS satisfies FieldListOf<ConfigDescriptor>;
const INTERFACE = LWA_INTERFACE_FIELDS satisfies FieldListOf<InterfaceDescriptor>;
const ENDPOINT = LWA_ENDPOINT_FIELDS satisfies FieldListOf<EndpointDescriptor>;
const SS_COMPANION = LWA_SS_ENDPOINT_COMPANION_FIELDS satisfies FieldListOf<SsEndpointCompanionDescriptor>;
const BOS = LWA_BOS_FIELDS satisfies FieldListOf<BosDescriptor>;
const BOS_CAPABILITY = LWA_BOS_DEV_CAPABILITY_FIELDS satisfies FieldListOf<BosDevCapability>;

const SPEEDS: DeviceSpeed[] = ['unknown', 'low', 'full', 'high', 'super', 'super-plus', 'super-plus-x2'];
const utf8 = new TextDecoder();
const OUT_OF_STEP = 'the API shim and ts/api/records.ts are out of step with api_protocol.h: rebuild both (./build.sh)';

/** Sequential little-endian reader over a copy of the record. */
class Reader {
  private offset = 0;
  private readonly view: DataView;
  constructor(private readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  private need(n: number): void {
    if (this.offset + n > this.bytes.length) throw new Error(`libusb-wasm: truncated record from the API shim; ${OUT_OF_STEP}`);
  }
  u8(): number {
    this.need(1);
    return this.bytes[this.offset++];
  }
  u16(): number {
    this.need(2);
    const v = this.view.getUint16(this.offset, true);
    this.offset += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.offset, true);
    this.offset += 4;
    return v;
  }
  take(n: number): Uint8Array {
    this.need(n);
    const v = this.bytes.slice(this.offset, this.offset + n);
    this.offset += n;
    return v;
  }
  /** The fixed fields a list names, in its order. */
  fields<L extends FieldList>(list: L): FieldValues<L> {
    const out: Record<string, number> = {};
    for (const [name, width] of list) out[name] = this[width]();
    return out as FieldValues<L>;
  }
  /** Bytes: u16 length, the bytes. */
  bytesField(): Uint8Array {
    return this.take(this.u16());
  }
  /** String: u16 length (0xffff: not available), UTF-8. */
  string(): string | undefined {
    const n = this.u16();
    return n === 0xffff ? undefined : utf8.decode(this.take(n));
  }
  /** The record is read: bytes left over mean the two sides disagree. */
  end(): void {
    const left = this.bytes.length - this.offset;
    if (left) throw new Error(`libusb-wasm: ${left} byte(s) left over in a record from the API shim; ${OUT_OF_STEP}`);
  }
}

function endpoint(r: Reader): EndpointDescriptor {
  const ep: EndpointDescriptor = { ...r.fields(ENDPOINT), extra: r.bytesField() };
  if (r.u8()) ep.ssCompanion = r.fields(SS_COMPANION);
  return ep;
}

function alternate(r: Reader): InterfaceDescriptor {
  const alt = { ...r.fields(INTERFACE), extra: r.bytesField() };
  const endpoints: EndpointDescriptor[] = [];
  for (let i = 0; i < alt.bNumEndpoints; i++) endpoints.push(endpoint(r));
  return { ...alt, endpoints };
}

function config(r: Reader): ConfigDescriptor {
  const c = { ...r.fields(CONFIG), extra: r.bytesField() };
  const interfaces: Interface[] = [];
  for (let i = 0; i < c.bNumInterfaces; i++) {
    const altsettings: InterfaceDescriptor[] = [];
    for (let a = r.u8(); a > 0; a--) altsettings.push(alternate(r));
    interfaces.push({ altsettings });
  }
  return { ...c, interfaces };
}

function device(r: Reader): DeviceInfo {
  const fixed = r.fields(DEVICE);
  const portNumbers = Array.from(r.take(r.u8()));
  const deviceDescriptor: DeviceDescriptor = r.fields(DEVICE_DESCRIPTOR);
  const info: DeviceInfo = {
    ...fixed, speed: SPEEDS[fixed.speed] ?? 'unknown', portNumbers, deviceDescriptor, configurations: [],
  };
  const manufacturer = r.string();
  const product = r.string();
  const serialNumber = r.string();
  if (manufacturer !== undefined) info.manufacturer = manufacturer;
  if (product !== undefined) info.product = product;
  if (serialNumber !== undefined) info.serialNumber = serialNumber;
  for (let i = 0; i < deviceDescriptor.bNumConfigurations; i++) {
    if (r.u32() === 0) info.configurations.push(config(r)); // i32 status: 0, or libusb's error
  }
  return info;
}

/** A device list record: u32 count, then the devices. */
export function readDeviceList(bytes: Uint8Array): DeviceInfo[] {
  const r = new Reader(bytes);
  const list: DeviceInfo[] = [];
  for (let n = r.u32(); n > 0; n--) list.push(device(r));
  r.end();
  return list;
}

/** One device record (hotplug arrivals). */
export function readDevice(bytes: Uint8Array): DeviceInfo {
  const r = new Reader(bytes);
  const info = device(r);
  r.end();
  return info;
}

/** A BOS record. */
export function readBos(bytes: Uint8Array): BosDescriptor {
  const r = new Reader(bytes);
  const bos = r.fields(BOS);
  const capabilities: BosDevCapability[] = [];
  for (let i = 0; i < bos.bNumDeviceCaps; i++) capabilities.push({ ...r.fields(BOS_CAPABILITY), data: r.bytesField() });
  r.end();
  return { ...bos, capabilities };
}
