/**
 * WebUSB's device filters and what they are matched against: the rules
 * shared by the transport host's policy (ts/host/policy.ts) and the
 * simulated navigator.usb (ts/sim/webusb/), written once.
 * @module
 */
import { parseConfiguration } from './config-parse.js';

/** A device filter, shaped like WebUSB's `USBDeviceFilter`. */
export interface DeviceFilter {
  /** idVendor to match. */
  vendorId?: number;
  /** idProduct to match (with vendorId). */
  productId?: number;
  /** Device or interface class to match. */
  classCode?: number;
  /** Subclass to match (with classCode). */
  subclassCode?: number;
  /** Protocol to match (with subclassCode). */
  protocolCode?: number;
  /** Serial number to match. */
  serialNumber?: string;
}

/**
 * The interface classes WebUSB refuses to let pages claim: audio, HID, mass
 * storage, smart card, video, audio/video, wireless controller.
 */
export const PROTECTED_CLASSES: readonly number[] = [0x01, 0x03, 0x08, 0x0b, 0x0e, 0x10, 0xe0];

/** What a device looks like to the policy. */
export interface DeviceFacts {
  /** idVendor. */
  vendorId: number;
  /** idProduct. */
  productId: number;
  /** bDeviceClass. */
  deviceClass: number;
  /** bDeviceSubClass. */
  deviceSubclass: number;
  /** bDeviceProtocol. */
  deviceProtocol: number;
  /** iSerialNumber's string, when it has one. */
  serialNumber?: string;
  /** Every (class, subclass, protocol) of every alternate setting of every configuration. */
  interfaceClasses: {
    /** bInterfaceNumber. */
    interfaceNumber: number;
    /** bConfigurationValue of the configuration it belongs to. */
    configuration: number;
    /** bInterfaceClass. */
    class: number;
    /** bInterfaceSubClass. */
    subclass: number;
    /** bInterfaceProtocol. */
    protocol: number;
  }[];
}

/** Facts about a device, from its raw descriptors. */
export function deviceFacts(device: Uint8Array, configurations: Uint8Array[], serialNumber?: string): DeviceFacts {
  const interfaceClasses: DeviceFacts['interfaceClasses'] = [];
  for (const raw of configurations) {
    try {
      const c = parseConfiguration(raw);
      for (const a of c.alternates) {
        interfaceClasses.push({
          interfaceNumber: a.interfaceNumber, configuration: c.value,
          class: a.interfaceClass, subclass: a.interfaceSubclass, protocol: a.interfaceProtocol,
        });
      }
    } catch {
      // an unparsable configuration contributes nothing (and grants nothing)
    }
  }
  return {
    vendorId: device[8] | (device[9] << 8),
    productId: device[10] | (device[11] << 8),
    deviceClass: device[4],
    deviceSubclass: device[5],
    deviceProtocol: device[6],
    serialNumber,
    interfaceClasses,
  };
}

/** WebUSB's "matches a device filter". */
export function matchesFilter(d: DeviceFacts, f: DeviceFilter): boolean {
  if (f.vendorId !== undefined && f.vendorId !== d.vendorId) return false;
  if (f.productId !== undefined && f.productId !== d.productId) return false;
  if (f.serialNumber !== undefined && f.serialNumber !== d.serialNumber) return false;
  if (f.classCode === undefined) return true;
  const matches = (cls: number, sub: number, proto: number) => cls === f.classCode
    && (f.subclassCode === undefined || sub === f.subclassCode)
    && (f.protocolCode === undefined || proto === f.protocolCode);
  if (matches(d.deviceClass, d.deviceSubclass, d.deviceProtocol)) return true;
  return d.interfaceClasses.some((i) => matches(i.class, i.subclass, i.protocol));
}

/** A filter is valid as WebUSB defines it (productId needs vendorId, ...). */
export function checkFilter(f: DeviceFilter): void {
  if (f.productId !== undefined && f.vendorId === undefined) throw new TypeError('a filter with productId needs vendorId');
  if (f.subclassCode !== undefined && f.classCode === undefined) throw new TypeError('a filter with subclassCode needs classCode');
  if (f.protocolCode !== undefined && f.subclassCode === undefined) throw new TypeError('a filter with protocolCode needs subclassCode');
}
