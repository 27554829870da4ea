/**
 * Reading the records the API shim writes (layout in
 * wasm/api/api_protocol.h): libusb's parsed descriptors, field by field.
 * @module
 * @internal
 */
import type {
  BosDescriptor, ConfigDescriptor, DeviceDescriptor, DeviceInfo, EndpointDescriptor, Interface,
  InterfaceDescriptor, DeviceSpeed,
} from './types.js';

const SPEEDS: DeviceSpeed[] = ['unknown', 'low', 'full', 'high', 'super', 'super-plus', 'super-plus-x2'];
const utf8 = new TextDecoder();

/** Sequential little-endian reader over a copy of the record. */
class Reader {
  private off = 0;
  private readonly view: DataView;
  constructor(private readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  private need(n: number): void {
    if (this.off + n > this.bytes.length) throw new Error('libusb-wasm: truncated record from the API shim');
  }
  u8(): number {
    this.need(1);
    return this.bytes[this.off++];
  }
  u16(): number {
    this.need(2);
    const v = this.view.getUint16(this.off, true);
    this.off += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.off, true);
    this.off += 4;
    return v;
  }
  i32(): number {
    this.need(4);
    const v = this.view.getInt32(this.off, true);
    this.off += 4;
    return v;
  }
  take(n: number): Uint8Array {
    this.need(n);
    const v = this.bytes.slice(this.off, this.off + n);
    this.off += n;
    return v;
  }
  bytesField(): Uint8Array {
    return this.take(this.u16());
  }
  string(): string | undefined {
    const n = this.u16();
    return n === 0xffff ? undefined : utf8.decode(this.take(n));
  }
}

function endpoint(r: Reader): EndpointDescriptor {
  const ep: EndpointDescriptor = {
    bLength: r.u8(), bDescriptorType: r.u8(), bEndpointAddress: r.u8(), bmAttributes: r.u8(),
    wMaxPacketSize: r.u16(), bInterval: r.u8(), bRefresh: r.u8(), bSynchAddress: r.u8(), extra: r.bytesField(),
  };
  if (r.u8()) ep.ssCompanion = { bMaxBurst: r.u8(), bmAttributes: r.u8(), wBytesPerInterval: r.u16() };
  return ep;
}

function alternate(r: Reader): InterfaceDescriptor {
  const alt = {
    bLength: r.u8(), bDescriptorType: r.u8(), bInterfaceNumber: r.u8(), bAlternateSetting: r.u8(),
    bNumEndpoints: r.u8(), bInterfaceClass: r.u8(), bInterfaceSubClass: r.u8(), bInterfaceProtocol: r.u8(),
    iInterface: r.u8(), extra: r.bytesField(),
  };
  const endpoints: EndpointDescriptor[] = [];
  for (let i = 0; i < alt.bNumEndpoints; i++) endpoints.push(endpoint(r));
  return { ...alt, endpoints };
}

function config(r: Reader): ConfigDescriptor {
  const c = {
    bLength: r.u8(), bDescriptorType: r.u8(), wTotalLength: r.u16(), bNumInterfaces: r.u8(),
    bConfigurationValue: r.u8(), iConfiguration: r.u8(), bmAttributes: r.u8(), MaxPower: r.u8(),
    extra: r.bytesField(),
  };
  const interfaces: Interface[] = [];
  for (let i = r.u8(); i > 0; i--) {
    const altsettings: InterfaceDescriptor[] = [];
    for (let a = r.u8(); a > 0; a--) altsettings.push(alternate(r));
    interfaces.push({ altsettings });
  }
  return { ...c, interfaces };
}

function device(r: Reader): DeviceInfo {
  const id = r.u32();
  const busNumber = r.u8();
  const deviceAddress = r.u8();
  const speed = SPEEDS[r.u8()] ?? 'unknown';
  const portNumbers = Array.from(r.take(r.u8()));
  const deviceDescriptor: DeviceDescriptor = {
    bLength: r.u8(), bDescriptorType: r.u8(), bcdUSB: r.u16(), bDeviceClass: r.u8(), bDeviceSubClass: r.u8(),
    bDeviceProtocol: r.u8(), bMaxPacketSize0: r.u8(), idVendor: r.u16(), idProduct: r.u16(), bcdDevice: r.u16(),
    iManufacturer: r.u8(), iProduct: r.u8(), iSerialNumber: r.u8(), bNumConfigurations: r.u8(),
  };
  const info: DeviceInfo = { id, busNumber, deviceAddress, portNumbers, speed, deviceDescriptor, configurations: [] };
  const manufacturer = r.string();
  const product = r.string();
  const serialNumber = r.string();
  if (manufacturer !== undefined) info.manufacturer = manufacturer;
  if (product !== undefined) info.product = product;
  if (serialNumber !== undefined) info.serialNumber = serialNumber;
  for (let i = r.u8(); i > 0; i--) {
    if (r.i32() === 0) info.configurations.push(config(r));
  }
  return info;
}

/** A device list record: u32 count, then the devices. */
export function readDeviceList(bytes: Uint8Array): DeviceInfo[] {
  const r = new Reader(bytes);
  const list: DeviceInfo[] = [];
  for (let n = r.u32(); n > 0; n--) list.push(device(r));
  return list;
}

/** One device record (hotplug arrivals). */
export function readDevice(bytes: Uint8Array): DeviceInfo {
  return device(new Reader(bytes));
}

/** A BOS record. */
export function readBos(bytes: Uint8Array): BosDescriptor {
  const r = new Reader(bytes);
  const bos = { bLength: r.u8(), bDescriptorType: r.u8(), wTotalLength: r.u16(), bNumDeviceCaps: r.u8() };
  const capabilities = [];
  for (let i = 0; i < bos.bNumDeviceCaps; i++) {
    capabilities.push({ bLength: r.u8(), bDescriptorType: r.u8(), bDevCapabilityType: r.u8(), data: r.bytesField() });
  }
  return { ...bos, capabilities };
}
