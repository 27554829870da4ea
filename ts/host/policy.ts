/**
 * Device-access policy for sandboxed programs (a web IDE running its users'
 * code): which devices a program may see, which interfaces it may claim, how
 * much it may have in flight, and a question to the embedding application
 * before a device is opened. The transport host enforces it, outside the
 * wasm, where the program cannot reach it.
 * @module
 */
import { parseConfiguration } from '../usb/config-parse.js';

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

/**
 * A program's sandbox: what it may see and do. Given to runProgram() (or
 * createContext()) when the program starts, enforced by the transport host.
 */
export interface PolicyOptions {
  /** Devices the program may see. Absent: every device the transport has. */
  grants?: DeviceFilter[];
  /**
   * Interface classes no program may claim. Default: {@link PROTECTED_CLASSES}
   * on every transport. Pass `[]` to relax it (an explicit decision).
   */
  blockedClasses?: readonly number[];
  /** Most transfers one program may have in flight (default 1024). */
  maxTransfersInFlight?: number;
  /** Most bytes one program may have in flight (default 64 MiB). */
  maxBytesInFlight?: number;
  /** Asked before a program opens a device; false denies (LIBUSB_ERROR_ACCESS). */
  confirmOpen?: (device: DeviceFacts, program: string) => boolean | Promise<boolean>;
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

/** The policy, resolved. */
export class Policy {
  readonly blockedClasses: ReadonlySet<number>;
  readonly maxTransfersInFlight: number;
  readonly maxBytesInFlight: number;
  private grants: DeviceFilter[] | undefined;
  private readonly confirmOpen: PolicyOptions['confirmOpen'];

  constructor(options: PolicyOptions = {}) {
    for (const f of options.grants ?? []) checkFilter(f);
    this.grants = options.grants ? [...options.grants] : undefined;
    this.blockedClasses = new Set(options.blockedClasses ?? PROTECTED_CLASSES);
    this.maxTransfersInFlight = options.maxTransfersInFlight ?? 1024;
    this.maxBytesInFlight = options.maxBytesInFlight ?? 64 * 1024 * 1024;
    this.confirmOpen = options.confirmOpen;
  }

  /** Whether a program may see the device at all. */
  visible(d: DeviceFacts): boolean {
    return !this.grants || this.grants.some((f) => matchesFilter(d, f));
  }

  /** Add a grant (a device the user picked while the program runs). */
  grant(filter: DeviceFilter): void {
    checkFilter(filter);
    if (this.grants) this.grants.push(filter);
  }

  /** Remove grants equal to this filter; returns whether any was removed. */
  revoke(filter: DeviceFilter): boolean {
    if (!this.grants) return false;
    const key = JSON.stringify(normalise(filter));
    const before = this.grants.length;
    this.grants = this.grants.filter((g) => JSON.stringify(normalise(g)) !== key);
    return this.grants.length !== before;
  }

  /** Whether an interface may be claimed: none of its alternate settings is of a blocked class. */
  claimable(d: DeviceFacts, configuration: number, interfaceNumber: number): boolean {
    return !d.interfaceClasses.some((i) => i.configuration === configuration && i.interfaceNumber === interfaceNumber
      && this.blockedClasses.has(i.class));
  }

  /** Ask the embedding application, when it wants to be asked. */
  async mayOpen(d: DeviceFacts, program: string): Promise<boolean> {
    if (!this.confirmOpen) return true;
    try {
      return (await this.confirmOpen(d, program)) === true;
    } catch {
      return false;
    }
  }
}

function normalise(f: DeviceFilter): DeviceFilter {
  const keys = ['vendorId', 'productId', 'classCode', 'subclassCode', 'protocolCode', 'serialNumber'] as const;
  const out: Record<string, unknown> = {};
  for (const k of keys) if (f[k] !== undefined) out[k] = f[k];
  return out as DeviceFilter;
}
