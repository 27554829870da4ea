/**
 * Device-access policy for sandboxed programs (a web IDE running its users'
 * code): which devices a program may see, which interfaces it may claim, how
 * much it may have in flight, and a question to the embedding application
 * before a device is opened. The transport host enforces it, outside the
 * wasm, where the program cannot reach it.
 * @module
 */
import { checkFilter, matchesFilter, PROTECTED_CLASSES, type DeviceFacts, type DeviceFilter } from '../usb/filters.js';

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
