/**
 * One device as the transport host shares it between programs: the single
 * owner of everything they share — how many handles have it open, which
 * handle holds which interface, the alternate settings, the configuration,
 * every handle's usable endpoints — and the serialisation of the operations
 * that change it. Per-program code asks it to act and hears back through its
 * {@link HandleOwner}; it never touches another program's objects.
 *
 * Every call into the transport has a deadline (deadline.ts): a device that
 * stops answering fails its calls with LIBUSB_ERROR_TIMEOUT, it does not
 * hold up the operations queued behind it for ever.
 * @module
 */
import type { CaptureDevice } from '../usb/capture/tap.js';
import { parseConfiguration, type ParsedConfiguration } from '../usb/config-parse.js';
import { ErrorCode } from '../usb/constants.js';
import { deviceFacts, type DeviceFacts } from '../usb/filters.js';
import {
  TransportError, type DeviceStrings, type RawDescriptors, type ResetOutcome, type TransportDevice,
} from '../transports/transport.js';
import type { AuditDevice } from './audit.js';
import { withDeadline } from './deadline.js';

/** What a device tells the program that holds a handle on it. */
export interface HandleOwner {
  /** The handle's usable endpoints changed (a claim, a release, an alternate setting, a configuration). */
  endpointsChanged(handle: OpenHandle): void;
  /** The device left the bus: the handle answers NO_DEVICE from now on, its transfers end. */
  deviceGone(handle: OpenHandle): void;
  /** Whether the owner's policy lets it hold this interface of this configuration of the device. */
  mayHold(device: SharedDevice, configuration: number, iface: number): boolean;
  /** Diagnostics. */
  log(message: string): void;
}

/** A libusb device handle as the host knows it: one program's, on one device. */
export class OpenHandle {
  /** Interfaces this handle holds. */
  readonly claimed = new Set<number>();
  /** Usable endpoints (bit n: endpoint n), the host's own copy: never read back from the program. */
  inMask = 0;
  /** Likewise for OUT endpoints. */
  outMask = 0;
  /** Closed (by the program or a kill): every later operation fails. */
  closed = false;
  /** The program's grant for the device was revoked: it is gone for this handle. */
  revoked = false;

  constructor(
    /** Unique across the programs of a host. */
    readonly id: number,
    readonly device: SharedDevice,
    readonly owner: HandleOwner,
    /** The program's struct lw_handle_shared for it. */
    readonly sharedBlock: number,
  ) {}

  /** Whether the endpoint belongs to an interface this handle holds, in its current alternate setting. */
  endpointUsable(endpoint: number): boolean {
    const mask = endpoint & 0x80 ? this.inMask : this.outMask;
    return (mask & (1 << (endpoint & 0x0f))) !== 0;
  }
}

/** Options of a {@link SharedDevice}. */
export interface SharedDeviceOptions {
  /** Deadline of one control-plane call into the transport, in ms. */
  callTimeoutMs: number;
  /** Diagnostics. */
  log: (message: string) => void;
}

export class SharedDevice {
  /** Who the device is, for the policy. */
  readonly facts: DeviceFacts;
  /** The device left the bus. */
  gone = false;
  private readonly handles = new Set<OpenHandle>();
  /** Claimed interfaces, and the handle that holds each. */
  private readonly claims = new Map<number, OpenHandle>();
  /** Alternate settings other than 0, by interface. */
  private readonly alternates = new Map<number, number>();
  /** Handles open at the transport (it is opened once for all of them). */
  private openCount = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private parsed?: (ParsedConfiguration | undefined)[];
  /** The device as a capture names it (one object, so the recorder writes its enumeration once per program). */
  readonly capture: CaptureDevice;

  constructor(
    /** The device's id for programs (the libusb session id); never reused. */
    readonly id: number,
    readonly transportDevice: TransportDevice,
    readonly descriptors: RawDescriptors,
    readonly strings: DeviceStrings,
    /** Its device record for the C backend (device-record.ts). */
    readonly record: Uint8Array,
    private readonly options: SharedDeviceOptions,
  ) {
    this.facts = deviceFacts(descriptors.device, descriptors.configurations, strings.serialNumber);
    const { busNumber, deviceAddress, speed } = transportDevice.location;
    this.capture = { busNumber, deviceAddress, speed, descriptors, strings };
  }

  // ---- what it is ------------------------------------------------------------------

  /** bConfigurationValue of the active configuration (0: unconfigured). */
  configurationValue(): number {
    try {
      const value = this.transportDevice.getConfiguration();
      return Number.isInteger(value) && value >= 0 && value <= 255 ? value : 0;
    } catch {
      return 0;
    }
  }

  /** The active configuration, parsed (undefined when unconfigured or unparsable). */
  activeConfig(): ParsedConfiguration | undefined {
    this.parsed ??= this.descriptors.configurations.map((c) => {
      try {
        return parseConfiguration(c);
      } catch {
        return undefined;
      }
    });
    const value = this.configurationValue();
    return value ? this.parsed.find((c) => c?.value === value) : undefined;
  }

  /** The interface an endpoint belongs to in the active configuration. */
  interfaceOfEndpoint(endpoint: number): number | undefined {
    return this.activeConfig()?.alternates.find((a) => a.endpoints.some((e) => e.address === endpoint))?.interfaceNumber;
  }

  /** Whether some handle holds the interface. */
  isClaimed(iface: number): boolean {
    return this.claims.has(iface);
  }

  /** Who the device is, for audit events. */
  get audit(): AuditDevice {
    return {
      vendorId: this.facts.vendorId, productId: this.facts.productId,
      busNumber: this.transportDevice.location.busNumber, deviceAddress: this.transportDevice.location.deviceAddress,
      serialNumber: this.strings.serialNumber,
    };
  }

  // ---- operations (one at a time per device) -----------------------------------------

  /** Open a handle for an owner. The transport opens the device for the first handle only. */
  open(owner: HandleOwner, id: number, sharedBlock: number): Promise<OpenHandle> {
    return this.serial(async () => {
      this.check();
      if (this.openCount === 0) {
        await this.call('open()', () => this.transportDevice.open(), () => {
          // it opened after all, when nobody waited any more
          if (this.openCount === 0) void this.transportDevice.close().catch(() => {});
        });
      }
      this.openCount++;
      const handle = new OpenHandle(id, this, owner, sharedBlock);
      this.handles.add(handle);
      return handle;
    });
  }

  /** Close a handle: its interfaces are released; the transport closes with the last handle. */
  close(handle: OpenHandle): Promise<void> {
    return this.serial(async () => {
      if (!this.handles.delete(handle)) return;
      handle.closed = true;
      await this.releaseEverything(handle);
      this.openCount--;
      if (this.openCount === 0 && !this.gone) {
        await this.call('close()', () => this.transportDevice.close()).catch((e) => this.options.log(`closing a device: ${e.message}`));
      }
    });
  }

  /** Give up every interface a handle holds (a revoked grant); the handle stays open. */
  releaseAll(handle: OpenHandle): Promise<void> {
    return this.serial(() => this.releaseEverything(handle));
  }

  claim(handle: OpenHandle, iface: number): Promise<void> {
    return this.serial(async () => {
      this.usable(handle);
      const config = this.activeConfig();
      if (!config || !config.alternates.some((a) => a.interfaceNumber === iface)) {
        throw new TransportError(ErrorCode.NOT_FOUND, `no interface ${iface} in the active configuration`);
      }
      if (!handle.owner.mayHold(this, config.value, iface)) {
        throw new TransportError(ErrorCode.ACCESS, `interface ${iface} is of a class the policy blocks`);
      }
      const holder = this.claims.get(iface);
      if (holder && holder !== handle) throw new TransportError(ErrorCode.BUSY, `interface ${iface} is claimed by another handle`);
      if (!holder) {
        await this.call(`claimInterface(${iface})`, () => this.transportDevice.claimInterface(iface), () => {
          if (this.claims.get(iface) !== handle) void this.transportDevice.releaseInterface(iface).catch(() => {});
        });
      }
      this.claims.set(iface, handle);
      handle.claimed.add(iface);
      this.endpointsChanged();
    });
  }

  release(handle: OpenHandle, iface: number): Promise<void> {
    return this.serial(async () => {
      this.usable(handle);
      if (this.claims.get(iface) !== handle) throw new TransportError(ErrorCode.NOT_FOUND, `interface ${iface} is not claimed`);
      // as libusb documents: releasing puts the interface back in alternate setting 0
      if (this.alternates.get(iface)) {
        await this.call(`setAlternateSetting(${iface}, 0)`, () => this.transportDevice.setAlternateSetting(iface, 0)).catch(() => {});
        this.alternates.delete(iface);
      }
      try {
        await this.call(`releaseInterface(${iface})`, () => this.transportDevice.releaseInterface(iface));
      } finally {
        this.claims.delete(iface);
        handle.claimed.delete(iface);
        this.endpointsChanged();
      }
    });
  }

  /** SET_CONFIGURATION (-1 or 0: unconfigured), refused while any handle holds an interface. */
  setConfiguration(handle: OpenHandle, value: number): Promise<void> {
    return this.serial(async () => {
      this.usable(handle);
      if (this.claims.size) throw new TransportError(ErrorCode.BUSY, 'interfaces are claimed');
      if (value !== -1 && value !== 0 && !this.descriptors.configurations.some((c) => c[5] === value)) {
        throw new TransportError(ErrorCode.NOT_FOUND, `no configuration ${value}`);
      }
      try {
        await this.call(`setConfiguration(${value})`, () => this.transportDevice.setConfiguration(value === -1 ? 0 : value));
      } finally {
        this.alternates.clear();
        this.endpointsChanged();
      }
    });
  }

  setAlternate(handle: OpenHandle, iface: number, alternate: number): Promise<void> {
    return this.serial(async () => {
      this.usable(handle);
      if (this.claims.get(iface) !== handle) throw new TransportError(ErrorCode.NOT_FOUND, `interface ${iface} is not claimed`);
      const config = this.activeConfig();
      if (!config?.alternates.some((a) => a.interfaceNumber === iface && a.alternate === alternate)) {
        throw new TransportError(ErrorCode.NOT_FOUND, `interface ${iface} has no alternate setting ${alternate}`);
      }
      await this.call(`setAlternateSetting(${iface}, ${alternate})`, () => this.transportDevice.setAlternateSetting(iface, alternate));
      if (alternate) this.alternates.set(iface, alternate);
      else this.alternates.delete(iface);
      this.endpointsChanged();
    });
  }

  clearHalt(handle: OpenHandle, endpoint: number): Promise<void> {
    return this.serial(async () => {
      this.usable(handle);
      if (!handle.endpointUsable(endpoint)) throw new TransportError(ErrorCode.NOT_FOUND, 'endpoint not in a claimed interface');
      await this.call(`clearHalt(0x${endpoint.toString(16)})`, () => this.transportDevice.clearHalt(endpoint));
    });
  }

  /** A bus reset. 'reenumerated': the device came back as another one (it leaves, and arrives anew). */
  reset(handle: OpenHandle): Promise<ResetOutcome> {
    return this.serial(async () => {
      this.usable(handle);
      const outcome = await this.call('reset()', () => this.transportDevice.reset(), undefined, 2);
      if (outcome === 'same') {
        // the device is back in alternate setting 0 of every interface
        this.alternates.clear();
        this.endpointsChanged();
      }
      return outcome === 'same' ? 'same' : 'reenumerated';
    });
  }

  kernelDriverActive(handle: OpenHandle, iface: number): Promise<boolean> {
    const active = this.transportDevice.kernelDriverActive?.bind(this.transportDevice);
    if (!active) return Promise.resolve(false);
    return this.serial(async () => {
      this.usable(handle);
      return (await this.call(`kernelDriverActive(${iface})`, () => active(iface))) === true;
    });
  }

  detachKernelDriver(handle: OpenHandle, iface: number): Promise<void> {
    const detach = this.transportDevice.detachKernelDriver?.bind(this.transportDevice);
    if (!detach) return Promise.reject(new TransportError(ErrorCode.NOT_FOUND, 'no kernel drivers on this transport'));
    return this.serial(async () => {
      this.usable(handle);
      await this.call(`detachKernelDriver(${iface})`, () => detach(iface));
    });
  }

  attachKernelDriver(handle: OpenHandle, iface: number): Promise<void> {
    const attach = this.transportDevice.attachKernelDriver?.bind(this.transportDevice);
    if (!attach) return Promise.reject(new TransportError(ErrorCode.NOT_FOUND, 'no kernel drivers on this transport'));
    return this.serial(async () => {
      this.usable(handle);
      if (this.claims.has(iface)) throw new TransportError(ErrorCode.BUSY, 'interface is claimed');
      await this.call(`attachKernelDriver(${iface})`, () => attach(iface));
    });
  }

  /** The device left the bus: every handle hears of it (their transfers end before libusb hears of the departure). */
  disconnected(): void {
    this.gone = true;
    for (const h of [...this.handles]) {
      try {
        h.owner.deviceGone(h);
      } catch (e) {
        this.options.log(`a program failed to hear that a device left: ${(e as Error)?.message ?? e}`);
      }
    }
  }

  // ---- internals ----------------------------------------------------------------------

  /** Control-plane operations on one device run one at a time, in order. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => {});
    return next;
  }

  /** A call into the transport, with its deadline (`scale` times the usual one). */
  private call<T>(what: string, fn: () => Promise<T>, late?: (value: T) => void, scale = 1): Promise<T> {
    return withDeadline(fn, this.options.callTimeoutMs * scale, what, late).catch((e) => {
      if (e instanceof TransportError && e.code === ErrorCode.TIMEOUT) this.options.log(`device ${this.id}: ${e.message}`);
      throw e;
    });
  }

  private check(): void {
    if (this.gone) throw new TransportError(ErrorCode.NO_DEVICE);
  }

  private usable(handle: OpenHandle): void {
    if (handle.closed) throw new TransportError(ErrorCode.NO_DEVICE, 'the handle is closed');
    if (this.gone || handle.revoked) throw new TransportError(ErrorCode.NO_DEVICE);
  }

  private async releaseEverything(handle: OpenHandle): Promise<void> {
    for (const iface of [...handle.claimed]) {
      if (this.claims.get(iface) !== handle) continue;
      this.claims.delete(iface);
      this.alternates.delete(iface);
      if (!this.gone) {
        await this.call(`releaseInterface(${iface})`, () => this.transportDevice.releaseInterface(iface)).catch(() => {});
      }
    }
    handle.claimed.clear();
    this.endpointsChanged();
  }

  /**
   * After any change of claims, alternates or configuration: every handle's
   * usable endpoints are worked out again from the active configuration,
   * and a claim the configuration or the holder's policy no longer allows is
   * dropped (and released at the transport).
   */
  private endpointsChanged(): void {
    const config = this.activeConfig();
    for (const [iface, holder] of [...this.claims]) {
      const exists = config?.alternates.some((a) => a.interfaceNumber === iface);
      if (exists && holder.owner.mayHold(this, config!.value, iface)) continue;
      this.claims.delete(iface);
      this.alternates.delete(iface);
      holder.claimed.delete(iface);
      holder.owner.log(`interface ${iface} of device ${this.id} is no longer held: the configuration changed`);
      if (!this.gone) void this.transportDevice.releaseInterface(iface).catch(() => {});
    }
    for (const h of this.handles) {
      let inMask = 0;
      let outMask = 0;
      for (const iface of h.claimed) {
        const alt = this.alternates.get(iface) ?? 0;
        const a = config?.alternates.find((x) => x.interfaceNumber === iface && x.alternate === alt);
        for (const ep of a?.endpoints ?? []) {
          if (ep.address & 0x80) inMask |= 1 << (ep.address & 0x0f);
          else outMask |= 1 << (ep.address & 0x0f);
        }
      }
      if (h.inMask === inMask >>> 0 && h.outMask === outMask >>> 0) continue;
      h.inMask = inMask >>> 0;
      h.outMask = outMask >>> 0;
      h.owner.endpointsChanged(h);
    }
  }
}
