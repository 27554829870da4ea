/**
 * Descriptors as data: a simulated device declares its device,
 * configurations, interfaces, endpoints, strings and BOS capabilities as
 * plain objects; {@link buildDescriptors} turns them into the raw bytes a
 * real device would return to GET_DESCRIPTOR.
 * @module
 */
import { DescriptorType } from '../usb/constants.js';

/** The transfer type of an endpoint. */
export type EndpointKind = 'bulk' | 'interrupt' | 'isochronous';

/** An endpoint, as data. */
export interface EndpointSpec {
  /** Address with direction bit, e.g. 0x81. */
  address: number;
  /** Transfer type. */
  type: EndpointKind;
  /** wMaxPacketSize. */
  maxPacketSize: number;
  /** bInterval (default 0 for bulk, 1 otherwise). */
  interval?: number;
  /** Isochronous sync/usage bits (bmAttributes bits 2..5). */
  isoAttributes?: number;
  /** Class-specific bytes that follow the endpoint descriptor. */
  extra?: Uint8Array;
}

/** One alternate setting of an interface, as data. */
export interface InterfaceSpec {
  /** bInterfaceNumber. */
  number: number;
  /** bAlternateSetting (default 0). */
  alternate?: number;
  /** bInterfaceClass. */
  class: number;
  /** bInterfaceSubClass (default 0). */
  subclass?: number;
  /** bInterfaceProtocol (default 0). */
  protocol?: number;
  /** Becomes iInterface. */
  name?: string;
  /** Endpoints of this alternate setting. */
  endpoints?: EndpointSpec[];
  /** Class-specific bytes after the interface descriptor (HID descriptor, ...). */
  extra?: Uint8Array;
}

/** An interface association (a function made of several interfaces), as data. */
export interface InterfaceAssociationSpec {
  /** bFirstInterface. */
  firstInterface: number;
  /** bInterfaceCount. */
  interfaceCount: number;
  /** bFunctionClass. */
  class: number;
  /** bFunctionSubClass (default 0). */
  subclass?: number;
  /** bFunctionProtocol (default 0). */
  protocol?: number;
  /** Becomes iFunction. */
  name?: string;
}

/** A configuration, as data. */
export interface ConfigurationSpec {
  /** bConfigurationValue. */
  value: number;
  /** Becomes iConfiguration. */
  name?: string;
  /** bmAttributes; bit 7 is always set. Default 0x80 (bus powered). */
  attributes?: number;
  /** bMaxPower in 2 mA units. Default 50 (100 mA). */
  maxPower?: number;
  /** Every interface and alternate setting, in order. */
  interfaces: InterfaceSpec[];
  /** Interface association descriptors, placed before the interfaces. */
  associations?: InterfaceAssociationSpec[];
  /** Class-specific bytes right after the configuration descriptor. */
  extra?: Uint8Array;
}

/** A whole device, as data: what {@link buildDescriptors} turns into raw descriptors. */
export interface DeviceSpec {
  /** Default 0x0200. */
  bcdUSB?: number;
  /** bDeviceClass (default 0). */
  deviceClass?: number;
  /** bDeviceSubClass (default 0). */
  deviceSubclass?: number;
  /** bDeviceProtocol (default 0). */
  deviceProtocol?: number;
  /** bMaxPacketSize0, default 64. */
  maxPacketSize0?: number;
  /** idVendor. */
  vendorId: number;
  /** idProduct. */
  productId: number;
  /** Default 0x0100. */
  bcdDevice?: number;
  /** Becomes iManufacturer. */
  manufacturer?: string;
  /** Becomes iProduct. */
  product?: string;
  /** Becomes iSerialNumber. */
  serialNumber?: string;
  /** The configurations, in order. */
  configurations: ConfigurationSpec[];
  /** Device capability descriptors (without the BOS header); a BOS is built when present. */
  capabilities?: Uint8Array[];
  /** Language IDs for string descriptor 0. Default [0x0409]. */
  languages?: number[];
}

/** Everything GET_DESCRIPTOR can return for a device. */
export interface DescriptorSet {
  /** The device descriptor. */
  device: Uint8Array;
  /** Each configuration with everything that follows it (wTotalLength bytes). */
  configurations: Uint8Array[];
  /** The BOS descriptor set, when the device has capabilities. */
  bos?: Uint8Array;
  /** String descriptor contents by index (index 0 is the language list). */
  strings: Map<number, string>;
  /** Language IDs of string descriptor 0. */
  languages: number[];
}

const EP_TYPE: Record<EndpointKind, number> = { isochronous: 1, bulk: 2, interrupt: 3 };

function u16(n: number): [number, number] {
  return [n & 0xff, (n >> 8) & 0xff];
}

function concat(parts: ArrayLike<number>[]): Uint8Array {
  let len = 0;
  for (const p of parts) len += p.length;
  const out = new Uint8Array(len);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Serialise a device specification into raw descriptors. */
export function buildDescriptors(spec: DeviceSpec): DescriptorSet {
  const strings = new Map<number, string>();
  const stringIndex = (s: string | undefined): number => {
    if (s === undefined) return 0;
    for (const [i, v] of strings) if (v === s) return i;
    const i = strings.size + 1;
    if (i > 255) throw new Error('too many strings for one device');
    strings.set(i, s);
    return i;
  };

  const iManufacturer = stringIndex(spec.manufacturer);
  const iProduct = stringIndex(spec.product);
  const iSerial = stringIndex(spec.serialNumber);
  const device = new Uint8Array([
    18, DescriptorType.DEVICE, ...u16(spec.bcdUSB ?? 0x0200),
    spec.deviceClass ?? 0, spec.deviceSubclass ?? 0, spec.deviceProtocol ?? 0,
    spec.maxPacketSize0 ?? 64, ...u16(spec.vendorId), ...u16(spec.productId),
    ...u16(spec.bcdDevice ?? 0x0100), iManufacturer, iProduct, iSerial,
    spec.configurations.length,
  ]);

  const configurations = spec.configurations.map((c) => {
    const body: ArrayLike<number>[] = [];
    if (c.extra) body.push(c.extra);
    const numInterfaces = new Set(c.interfaces.map((i) => i.number)).size;
    for (const ia of c.associations ?? []) {
      body.push([8, DescriptorType.INTERFACE_ASSOCIATION, ia.firstInterface, ia.interfaceCount,
        ia.class, ia.subclass ?? 0, ia.protocol ?? 0, stringIndex(ia.name)]);
    }
    for (const i of c.interfaces) {
      const eps = i.endpoints ?? [];
      body.push([9, DescriptorType.INTERFACE, i.number, i.alternate ?? 0, eps.length, i.class,
        i.subclass ?? 0, i.protocol ?? 0, stringIndex(i.name)]);
      if (i.extra) body.push(i.extra);
      for (const e of eps) {
        body.push([7, DescriptorType.ENDPOINT, e.address, EP_TYPE[e.type] | (e.isoAttributes ?? 0),
          ...u16(e.maxPacketSize), e.interval ?? (e.type === 'bulk' ? 0 : 1)]);
        if (e.extra) body.push(e.extra);
      }
    }
    const rest = concat(body);
    const total = 9 + rest.length;
    const head = [9, DescriptorType.CONFIG, ...u16(total), numInterfaces, c.value, stringIndex(c.name),
      0x80 | (c.attributes ?? 0), c.maxPower ?? 50];
    return concat([head, rest]);
  });

  let bos: Uint8Array | undefined;
  if (spec.capabilities && spec.capabilities.length) {
    const caps = concat(spec.capabilities);
    bos = concat([[5, DescriptorType.BOS, ...u16(5 + caps.length), spec.capabilities.length], caps]);
  }
  return { device, configurations, bos, strings, languages: spec.languages ?? [0x0409] };
}

export { stringDescriptor, languageDescriptor } from '../usb/string-descriptors.js';

/** BOS capability builders. */
export const Capability = {
  /** USB 2.0 Extension (LPM support bit). */
  usb20Extension(attributes = 0x02): Uint8Array {
    return new Uint8Array([7, DescriptorType.DEVICE_CAPABILITY, 0x02, attributes & 0xff,
      (attributes >> 8) & 0xff, (attributes >> 16) & 0xff, (attributes >>> 24) & 0xff]);
  },
  /** Container ID (16-byte UUID). */
  containerId(uuid: Uint8Array): Uint8Array {
    if (uuid.length !== 16) throw new Error('container ID must be 16 bytes');
    return concat([[20, DescriptorType.DEVICE_CAPABILITY, 0x04, 0], uuid]);
  },
  /** WebUSB platform capability (landing page string index, vendor code). */
  webusb(vendorCode: number, landingPage = 0): Uint8Array {
    const uuid = [0x38, 0xb6, 0x08, 0x34, 0xa9, 0x09, 0xa0, 0x47, 0x8b, 0xfd, 0xa0, 0x76, 0x88, 0x15, 0xb6, 0x65];
    return new Uint8Array([24, DescriptorType.DEVICE_CAPABILITY, 0x05, 0, ...uuid, 0x00, 0x01, vendorCode, landingPage]);
  },
};
