/**
 * The simulated devices behind `navigator.usb`'s shape: `USB`, `USBDevice`,
 * `USBConfiguration`, `USBInterface`, `USBAlternateInterface`,
 * `USBEndpoint` and the transfer result objects, over the same device
 * models (SimBus, SimDevice, SimEndpoint) the sim transport uses.
 *
 * This file is the *platform* part only: what Chrome's WebUSB
 * implementation adds on top of a device. Permission (every device on the
 * bus is granted), the `opened` / `configuration` / `claimed` state, the
 * argument checks and their DOMExceptions, the result objects, aborting
 * transfers when the state changes, and `connect` / `disconnect` events.
 * Device behaviour (descriptors, endpoints, stalls, babble...) comes from
 * the models, unchanged.
 *
 * It follows Chrome's implementation (blink's usb_device.cc) where the
 * spec leaves room: which exception each check throws, that state-changing
 * calls block other calls until they finish, that a failed isochronous
 * packet rejects the whole transfer, that OUT results report the whole
 * length as written, that views of a SharedArrayBuffer are refused
 * (TypeError), and that interfaces of protected classes cannot be claimed
 * (SecurityError; see {@link PROTECTED_CLASSES}).
 * @module
 */
import { PROTECTED_CLASSES, checkFilter, deviceFacts, matchesFilter, type DeviceFilter } from '../host/policy.js';
import { RequestType, StandardRequest, TransferStatus, TransferType, type TransferStatusCode } from '../usb/constants.js';
import { parseConfiguration, type ParsedEndpoint } from '../usb/config-parse.js';
import type { SetupPacket, TransferRequest, TransferResult } from '../transports/transport.js';
import type { SimAttachment, SimBus } from './bus.js';
import type { SimDevice } from './device.js';

/** Chrome's cap on one transfer's length (DataError above it). */
export const MAX_TRANSFER_LENGTH = 32 * 1024 * 1024;

/** Options of {@link SimUSB}. */
export interface SimUsbOptions {
  /**
   * Interface classes whose claim fails with SecurityError. Default: Chrome's
   * list ({@link PROTECTED_CLASSES}); `[]` allows every class, as
   * Chrome does for policy-allowed origins and the `usb` package in Node.
   */
  protectedClasses?: readonly number[];
}

export type USBDirection = 'in' | 'out';
export type USBEndpointType = 'bulk' | 'interrupt' | 'isochronous';
export type USBTransferStatus = 'ok' | 'stall' | 'babble';

export interface USBControlTransferParameters {
  requestType: 'standard' | 'class' | 'vendor';
  recipient: 'device' | 'interface' | 'endpoint' | 'other';
  request: number;
  value: number;
  index: number;
}

export interface USBDeviceRequestOptions {
  filters: DeviceFilter[];
  exclusionFilters?: DeviceFilter[];
}

// ---- result objects ----------------------------------------------------------

export class USBInTransferResult {
  constructor(readonly status: USBTransferStatus, readonly data: DataView | null = null) {}
}

export class USBOutTransferResult {
  constructor(readonly status: USBTransferStatus, readonly bytesWritten = 0) {}
}

export class USBIsochronousInTransferPacket {
  constructor(readonly status: USBTransferStatus, readonly data: DataView | null = null) {}
}

export class USBIsochronousInTransferResult {
  readonly packets: readonly USBIsochronousInTransferPacket[];
  constructor(packets: USBIsochronousInTransferPacket[], readonly data: DataView | null = null) {
    this.packets = Object.freeze([...packets]);
  }
}

export class USBIsochronousOutTransferPacket {
  constructor(readonly status: USBTransferStatus, readonly bytesWritten = 0) {}
}

export class USBIsochronousOutTransferResult {
  readonly packets: readonly USBIsochronousOutTransferPacket[];
  constructor(packets: USBIsochronousOutTransferPacket[]) {
    this.packets = Object.freeze([...packets]);
  }
}

/** `USBConnectionEvent`: fired on the USB object as `connect` and `disconnect`. */
export class USBConnectionEvent extends Event {
  readonly device: SimUSBDevice;
  constructor(type: 'connect' | 'disconnect', init: { device: SimUSBDevice }) {
    super(type);
    this.device = init.device;
  }
}

// ---- the descriptor object model ---------------------------------------------

export class USBEndpoint {
  readonly endpointNumber: number;
  readonly direction: USBDirection;
  readonly type: USBEndpointType;
  /** wMaxPacketSize with the high-bandwidth multiplier applied, as the spec asks. */
  readonly packetSize: number;
  constructor(e: ParsedEndpoint) {
    this.endpointNumber = e.address & 0x0f;
    this.direction = e.address & 0x80 ? 'in' : 'out';
    this.type = (['bulk', 'isochronous', 'bulk', 'interrupt'] as const)[e.type];
    this.packetSize = (e.maxPacketSize & 0x7ff) * (((e.maxPacketSize >> 11) & 3) + 1);
  }
}

export class USBAlternateInterface {
  readonly endpoints: readonly USBEndpoint[];
  constructor(
    readonly alternateSetting: number,
    readonly interfaceClass: number,
    readonly interfaceSubclass: number,
    readonly interfaceProtocol: number,
    readonly interfaceName: string | null,
    endpoints: USBEndpoint[],
  ) {
    this.endpoints = Object.freeze(endpoints);
  }
}

export class USBInterface {
  readonly alternates: readonly USBAlternateInterface[];
  constructor(
    private readonly device: SimUSBDevice,
    private readonly configIndex: number,
    private readonly index: number,
    readonly interfaceNumber: number,
    alternates: USBAlternateInterface[],
  ) {
    this.alternates = Object.freeze(alternates);
  }

  /** The selected alternate setting (the first one while not claimed, as Chrome reports it). */
  get alternate(): USBAlternateInterface {
    const claimed = this.device.state.isClaimed(this.configIndex, this.index);
    return this.alternates[claimed ? this.device.state.selectedAlternate[this.index] : 0];
  }

  /** Claimed by this context. */
  get claimed(): boolean {
    return this.device.state.isClaimed(this.configIndex, this.index);
  }
}

export class USBConfiguration {
  interfaces: readonly USBInterface[] = [];
  constructor(readonly configurationValue: number, readonly configurationName: string | null) {}
}

// ---- USB ---------------------------------------------------------------------

type ConnectionListener = ((event: USBConnectionEvent) => void) | null;

/** `navigator.usb` over the devices of a {@link SimBus}. */
export class SimUSB extends EventTarget {
  /** WebUSB: `navigator.usb.onconnect`. */
  onconnect: ConnectionListener = null;
  /** WebUSB: `navigator.usb.ondisconnect`. */
  ondisconnect: ConnectionListener = null;
  /** The options it was made with, defaults filled in. */
  readonly options: Required<SimUsbOptions>;
  private readonly bus: SimBus;
  private readonly devices = new Map<SimAttachment, SimUSBDevice>();
  private readonly forgotten = new WeakSet<SimAttachment>();
  private readonly unsubscribe: () => void;

  constructor(bus: SimBus, options: SimUsbOptions = {}) {
    super();
    this.bus = bus;
    this.options = { protectedClasses: options.protectedClasses ?? PROTECTED_CLASSES };
    for (const a of bus.attachments()) this.devices.set(a, new SimUSBDevice(this, a));
    this.unsubscribe = bus.subscribe((type, a) => (type === 'connect' ? this.attached(a) : this.detached(a)));
  }

  /** Listen for `connect` and `disconnect` (USBConnectionEvent). */
  override addEventListener(type: 'connect' | 'disconnect', listener: (event: USBConnectionEvent) => void, options?: boolean | AddEventListenerOptions): void;
  /** EventTarget's own signature. */
  override addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void;
  override addEventListener(type: string, listener: unknown, options?: boolean | AddEventListenerOptions): void {
    super.addEventListener(type, listener as EventListener, options);
  }

  /** Stop listening. */
  override removeEventListener(type: 'connect' | 'disconnect', listener: (event: USBConnectionEvent) => void, options?: boolean | EventListenerOptions): void;
  /** EventTarget's own signature. */
  override removeEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | EventListenerOptions): void;
  override removeEventListener(type: string, listener: unknown, options?: boolean | EventListenerOptions): void {
    super.removeEventListener(type, listener as EventListener, options);
  }

  /** The devices this context may use: every device on the bus it has not forgotten. */
  async getDevices(): Promise<SimUSBDevice[]> {
    return this.bus.attachments().filter((a) => !this.forgotten.has(a)).map((a) => this.devices.get(a)!)
      .filter(Boolean);
  }

  /**
   * Chrome shows a chooser; here the first device matching the filters is
   * chosen (and granted again if it was forgotten).
   */
  async requestDevice(options?: USBDeviceRequestOptions): Promise<SimUSBDevice> {
    if (!options || !Array.isArray(options.filters)) {
      throw new TypeError("Failed to execute 'requestDevice' on 'USB': required member filters is undefined.");
    }
    for (const f of [...options.filters, ...(options.exclusionFilters ?? [])]) checkFilter(f);
    for (const a of this.bus.attachments()) {
      const d = this.devices.get(a);
      if (!d) continue;
      const facts = deviceFacts(a.device.descriptors.device, a.device.descriptors.configurations, d.serialNumber ?? undefined);
      const matches = (f: DeviceFilter) => matchesFilter(facts, f);
      if (options.filters.length && !options.filters.some(matches)) continue;
      if (options.exclusionFilters?.some(matches)) continue;
      if (this.forgotten.delete(a)) {
        // granted again: a new USBDevice, as Chrome gives
        const fresh = new SimUSBDevice(this, a);
        this.devices.set(a, fresh);
        return fresh;
      }
      return d;
    }
    throw new DOMException('No device selected.', 'NotFoundError');
  }

  /** Stop following the bus (the context is going away). */
  dispose(): void {
    this.unsubscribe();
  }

  /** @internal USBDevice.forget(): the permission goes; the object stops working. */
  forget(device: SimUSBDevice): void {
    this.forgotten.add(device.attachment);
    device.disconnected();
  }

  /** @internal USBDevice.reset() of a device that re-enumerates. */
  replug(device: SimUSBDevice): void {
    this.bus.replug(device.attachment.device);
  }

  private attached(a: SimAttachment): void {
    const d = new SimUSBDevice(this, a);
    this.devices.set(a, d);
    this.fire('connect', d);
  }

  private detached(a: SimAttachment): void {
    const d = this.devices.get(a);
    if (!d) return;
    this.devices.delete(a);
    d.disconnected();
    // Chrome fires it once the OS has removed the device, after its transfers have failed
    if (!this.forgotten.has(a)) setTimeout(() => this.fire('disconnect', d), 0);
  }

  private fire(type: 'connect' | 'disconnect', device: SimUSBDevice): void {
    const event = new USBConnectionEvent(type, { device });
    (type === 'connect' ? this.onconnect : this.ondisconnect)?.call(this, event);
    this.dispatchEvent(event);
  }
}

// ---- USBDevice ---------------------------------------------------------------

/** Claims across every context (tab, worker) on the same simulated device. */
const claimsByDevice = new WeakMap<SimDevice, Map<number, DeviceState>>();

/** What Chrome keeps per USBDevice object (blink's USBDevice members). */
class DeviceState {
  connected = true;
  opened = false;
  deviceChange = false;
  configIndex = -1;
  claimed: boolean[] = [];
  interfaceChange: boolean[] = [];
  selectedAlternate: number[] = [];
  /** available endpoint numbers, by direction */
  readonly inEndpoints = new Set<number>();
  readonly outEndpoints = new Set<number>();

  isClaimed(configIndex: number, index: number): boolean {
    return this.configIndex >= 0 && this.configIndex === configIndex && !!this.claimed[index];
  }
}

interface Pending {
  reject: (e: unknown) => void;
}

/** A bulk, interrupt or isochronous transfer on its way to the device model. */
interface InFlightTransfer {
  request: TransferRequest;
  /** index (in the configuration) of the interface the endpoint belongs to */
  interfaceIndex: number;
  /** Set when a state change or a disconnect ended it: the status it ends with, and whether Chrome hears of it a task later. */
  killed?: { status: TransferStatusCode; later: boolean };
}

const DISCONNECTED = 'The device was disconnected.';
const OPEN_REQUIRED = 'The device must be opened first.';
const INTERFACE_NOT_FOUND = 'The interface number provided is not supported by the device in its current configuration.';
const INTERFACE_CHANGE = 'An operation that changes interface state is in progress.';

/** WebUSB's `USBDevice` over one simulated device: its state rules, DOMExceptions and results are Chrome's. */
export class SimUSBDevice {
  /** WebUSB: from bcdUSB. */
  readonly usbVersionMajor: number;
  /** WebUSB: from bcdUSB. */
  readonly usbVersionMinor: number;
  /** WebUSB: from bcdUSB. */
  readonly usbVersionSubminor: number;
  /** WebUSB: bDeviceClass. */
  readonly deviceClass: number;
  /** WebUSB: bDeviceSubClass. */
  readonly deviceSubclass: number;
  /** WebUSB: bDeviceProtocol. */
  readonly deviceProtocol: number;
  /** WebUSB: idVendor. */
  readonly vendorId: number;
  /** WebUSB: idProduct. */
  readonly productId: number;
  /** WebUSB: from bcdDevice. */
  readonly deviceVersionMajor: number;
  /** WebUSB: from bcdDevice. */
  readonly deviceVersionMinor: number;
  /** WebUSB: from bcdDevice. */
  readonly deviceVersionSubminor: number;
  /** WebUSB: the manufacturer string, or null. */
  readonly manufacturerName: string | null;
  /** WebUSB: the product string, or null. */
  readonly productName: string | null;
  /** WebUSB: the serial number string, or null. */
  readonly serialNumber: string | null;
  /** WebUSB: every configuration. */
  readonly configurations: readonly USBConfiguration[];
  /** @internal */
  readonly state = new DeviceState();
  /** @internal */
  readonly attachment: SimAttachment;

  private readonly usb: SimUSB;
  private readonly sim: SimDevice;
  private readonly pending = new Set<Pending>();
  private readonly transfers = new Set<InFlightTransfer>();

  constructor(usb: SimUSB, attachment: SimAttachment) {
    this.usb = usb;
    this.attachment = attachment;
    this.sim = attachment.device;
    const d = this.sim.descriptors;
    const dev = d.device;
    const bcd = (lo: number) => [dev[lo + 1], dev[lo] >> 4, dev[lo] & 0x0f];
    [this.usbVersionMajor, this.usbVersionMinor, this.usbVersionSubminor] = bcd(2);
    [this.deviceVersionMajor, this.deviceVersionMinor, this.deviceVersionSubminor] = bcd(12);
    this.deviceClass = dev[4];
    this.deviceSubclass = dev[5];
    this.deviceProtocol = dev[6];
    this.vendorId = dev[8] | (dev[9] << 8);
    this.productId = dev[10] | (dev[11] << 8);
    const str = (i: number) => (i ? d.strings.get(i) ?? null : null);
    this.manufacturerName = str(dev[14]);
    this.productName = str(dev[15]);
    this.serialNumber = str(dev[16]);
    this.configurations = Object.freeze(d.configurations.map((raw, ci) => this.buildConfiguration(raw, ci)));
    const active = this.configurations.findIndex((c) => c.configurationValue === this.sim.configuration);
    if (active >= 0) this.configurationSelected(active);
  }

  /** WebUSB: whether the device is open. */
  get opened(): boolean {
    return this.state.opened;
  }

  /** WebUSB: the active configuration, or null when unconfigured. */
  get configuration(): USBConfiguration | null {
    return this.state.configIndex >= 0 ? this.configurations[this.state.configIndex] : null;
  }

  // ---- state changes ---------------------------------------------------------

  /** WebUSB: `USBDevice.open()`. */
  open(): Promise<void> {
    const e = this.checkNoDeviceOrInterfaceChange();
    if (e) return Promise.reject(e);
    if (this.state.opened) return Promise.resolve();
    this.state.deviceChange = true;
    return this.track(async () => {
      await nextTask();
      this.state.deviceChange = false;
      this.state.opened = true;
    });
  }

  /** WebUSB: `USBDevice.close()`. */
  close(): Promise<void> {
    const e = this.checkNoDeviceOrInterfaceChange();
    if (e) return Promise.reject(e);
    if (!this.state.opened) return Promise.resolve();
    this.state.deviceChange = true;
    return this.track(async () => {
      this.abortTransfers(() => true, TransferStatus.CANCELLED);
      await nextTask();
      this.releaseAllClaims();
      this.state.opened = false;
      this.state.claimed.fill(false);
      this.state.selectedAlternate.fill(0);
      this.state.inEndpoints.clear();
      this.state.outEndpoints.clear();
      this.state.deviceChange = false;
    });
  }

  /** WebUSB: `USBDevice.forget()`. */
  async forget(): Promise<void> {
    if (this.state.opened && this.state.connected && !this.state.deviceChange) await this.close().catch(() => {});
    this.usb.forget(this);
  }

  /** WebUSB: `USBDevice.selectConfiguration()`. */
  selectConfiguration(configurationValue: number): Promise<void> {
    const e = this.checkNoDeviceOrInterfaceChange()
      ?? (!this.state.opened ? invalidState(OPEN_REQUIRED) : undefined);
    if (e) return Promise.reject(e);
    const value = configurationValue & 0xff;
    const index = this.configurations.findIndex((c) => c.configurationValue === value);
    if (index < 0) return Promise.reject(new DOMException('The configuration value provided is not supported by the device.', 'NotFoundError'));
    if (index === this.state.configIndex) return Promise.resolve();
    this.state.deviceChange = true;
    return this.track(async () => {
      await nextTask();
      // Linux refuses to change the configuration under claimed interfaces (usbfs: EBUSY); nothing changes
      const ok = !this.state.claimed.some(Boolean) && await this.standard(0x00, StandardRequest.SET_CONFIGURATION, value, 0);
      if (ok) {
        this.releaseAllClaims();
        this.configurationSelected(index);
      }
      this.state.deviceChange = false;
      if (!ok) throw new DOMException('Unable to set device configuration.', 'NetworkError');
    });
  }

  /** WebUSB: `USBDevice.claimInterface()` (protected classes fail with SecurityError). */
  claimInterface(interfaceNumber: number): Promise<void> {
    const e = this.checkConfigured();
    if (e) return Promise.reject(e);
    const index = this.interfaceIndex(interfaceNumber & 0xff);
    if (index < 0) return Promise.reject(new DOMException(INTERFACE_NOT_FOUND, 'NotFoundError'));
    if (this.state.interfaceChange[index]) return Promise.reject(invalidState(INTERFACE_CHANGE));
    if (this.state.claimed[index]) return Promise.resolve();
    this.state.interfaceChange[index] = true;
    return this.track(async () => {
      await nextTask();
      const iface = this.configuration!.interfaces[index];
      const claims = claimsOf(this.sim);
      let error: DOMException | undefined;
      if (iface.alternates.some((a) => this.usb.options.protectedClasses.includes(a.interfaceClass))) {
        error = new DOMException('The requested interface implements a protected class.', 'SecurityError');
      } else if (claims.get(iface.interfaceNumber) && claims.get(iface.interfaceNumber) !== this.state) {
        // another context (tab, worker, program) has it
        error = new DOMException('Unable to claim interface.', 'NetworkError');
      } else {
        claims.set(iface.interfaceNumber, this.state);
      }
      this.interfaceClaimedOrReleased(!error, index);
      if (error) throw error;
    });
  }

  /** WebUSB: `USBDevice.releaseInterface()`. */
  releaseInterface(interfaceNumber: number): Promise<void> {
    const e = this.checkConfigured();
    if (e) return Promise.reject(e);
    const index = this.interfaceIndex(interfaceNumber & 0xff);
    if (index < 0) return Promise.reject(new DOMException(INTERFACE_NOT_FOUND, 'NotFoundError'));
    if (this.state.interfaceChange[index]) return Promise.reject(invalidState(INTERFACE_CHANGE));
    if (!this.state.claimed[index]) return Promise.resolve();
    this.setEndpoints(index, false);
    this.state.interfaceChange[index] = true;
    return this.track(async () => {
      // releasing an interface kills its transfers (Linux usbfs does)
      this.abortTransfers((t) => t.interfaceIndex === index);
      await nextTask();
      const number = this.configuration!.interfaces[index].interfaceNumber;
      const claims = claimsOf(this.sim);
      if (claims.get(number) === this.state) claims.delete(number);
      this.interfaceClaimedOrReleased(false, index);
    });
  }

  /** WebUSB: `USBDevice.selectAlternateInterface()`. */
  selectAlternateInterface(interfaceNumber: number, alternateSetting: number): Promise<void> {
    const e = this.checkInterfaceClaimed(interfaceNumber & 0xff);
    if (e) return Promise.reject(e);
    const index = this.interfaceIndex(interfaceNumber & 0xff);
    const iface = this.configuration!.interfaces[index];
    const alt = iface.alternates.findIndex((a) => a.alternateSetting === (alternateSetting & 0xff));
    if (alt < 0) {
      return Promise.reject(new DOMException('The alternate setting provided is not supported by the device in its current configuration.', 'NotFoundError'));
    }
    this.setEndpoints(index, false);
    this.state.interfaceChange[index] = true;
    return this.track(async () => {
      this.abortTransfers((t) => t.interfaceIndex === index);
      await nextTask();
      const ok = await this.standard(0x01, StandardRequest.SET_INTERFACE, alternateSetting & 0xff, iface.interfaceNumber);
      if (ok) this.state.selectedAlternate[index] = alt;
      // as Chrome: after a failure the interface's endpoints stay unavailable
      this.setEndpoints(index, ok);
      this.state.interfaceChange[index] = false;
      if (!ok) throw new DOMException('Unable to set device interface.', 'NetworkError');
    });
  }

  /** WebUSB: `USBDevice.clearHalt()`. */
  clearHalt(direction: USBDirection, endpointNumber: number): Promise<void> {
    const dir = checkDirection(direction, 'clearHalt');
    if (dir instanceof TypeError) return Promise.reject(dir);
    const n = endpointNumber & 0xff;
    const e = this.checkEndpoint(dir === 'in', n);
    if (e) return Promise.reject(e);
    return this.track(async () => {
      const ok = await this.standard(0x02, StandardRequest.CLEAR_FEATURE, 0, n | (dir === 'in' ? 0x80 : 0));
      if (!ok) throw new DOMException('Unable to clear endpoint.', 'NetworkError');
    });
  }

  /** WebUSB: `USBDevice.reset()`. */
  reset(): Promise<void> {
    const e = this.checkNoDeviceOrInterfaceChange()
      ?? (!this.state.opened ? invalidState(OPEN_REQUIRED) : undefined);
    if (e) return Promise.reject(e);
    return this.track(async () => {
      this.abortTransfers(() => true);
      await nextTask();
      if (this.sim.busReset() === 'reenumerated') {
        // the device comes back as a new USBDevice; this one is disconnected
        this.usb.replug(this);
        throw new DOMException(DISCONNECTED, 'NotFoundError');
      }
    });
  }

  // ---- transfers -------------------------------------------------------------

  /** WebUSB: `USBDevice.controlTransferIn()`. */
  controlTransferIn(setup: USBControlTransferParameters, length: number): Promise<USBInTransferResult> {
    const checked = this.checkControl(setup, 'controlTransferIn');
    if (checked instanceof Error) return Promise.reject(checked);
    const packet: SetupPacket = { ...checked, bmRequestType: checked.bmRequestType | 0x80, wLength: length & 0xffff };
    return this.transfer(async () => {
      if (!standardRequestAllowed(packet)) throw notAllowed();
      const r = await this.sim.control(packet);
      throwIfFatal(r.status);
      return new USBInTransferResult(webStatus(r.status), freshView(r.data));
    });
  }

  /** WebUSB: `USBDevice.controlTransferOut()`. */
  controlTransferOut(setup: USBControlTransferParameters, data?: BufferSource): Promise<USBOutTransferResult> {
    const checked = this.checkControl(setup, 'controlTransferOut');
    if (checked instanceof Error) return Promise.reject(checked);
    const bytes = data === undefined ? new Uint8Array(0) : copyBufferSource(data, 'controlTransferOut', 2);
    if (bytes instanceof Error) return Promise.reject(bytes);
    const packet: SetupPacket = { ...checked, wLength: bytes.length };
    return this.transfer(async () => {
      if (!standardRequestAllowed(packet)) throw notAllowed();
      const r = await this.sim.control(packet, bytes.length ? bytes : undefined);
      throwIfFatal(r.status);
      return new USBOutTransferResult(webStatus(r.status), bytes.length);
    });
  }

  /** WebUSB: `USBDevice.transferIn()`. */
  transferIn(endpointNumber: number, length: number): Promise<USBInTransferResult> {
    const n = endpointNumber & 0xff;
    const len = length >>> 0;
    if (len > MAX_TRANSFER_LENGTH) return Promise.reject(tooBig());
    const e = this.checkEndpoint(true, n);
    if (e) return Promise.reject(e);
    const ep = this.endpointOf(true, n);
    return this.transfer(async () => {
      if (ep.type === 'isochronous') throw transferError();
      const r = await this.submit(ep, { type: ep.kind, endpoint: 0x80 | n, length: len, zeroLengthPacket: false, timeout: 0 });
      throwIfFatal(r.status);
      return new USBInTransferResult(webStatus(r.status), freshView(r.data));
    });
  }

  /** WebUSB: `USBDevice.transferOut()`. */
  transferOut(endpointNumber: number, data: BufferSource): Promise<USBOutTransferResult> {
    const bytes = copyBufferSource(data, 'transferOut', 2);
    if (bytes instanceof Error) return Promise.reject(bytes);
    const n = endpointNumber & 0xff;
    const e = this.checkEndpoint(false, n);
    if (e) return Promise.reject(e);
    if (bytes.length > MAX_TRANSFER_LENGTH) return Promise.reject(tooBig());
    const ep = this.endpointOf(false, n);
    return this.transfer(async () => {
      if (ep.type === 'isochronous') throw transferError();
      const r = await this.submit(ep, { type: ep.kind, endpoint: n, data: bytes, length: bytes.length, zeroLengthPacket: false, timeout: 0 });
      throwIfFatal(r.status);
      // Chrome reports the whole buffer as written whatever the status
      return new USBOutTransferResult(webStatus(r.status), bytes.length);
    });
  }

  /** WebUSB: `USBDevice.isochronousTransferIn()`. */
  isochronousTransferIn(endpointNumber: number, packetLengths: number[]): Promise<USBIsochronousInTransferResult> {
    const n = endpointNumber & 0xff;
    const e = this.checkEndpoint(true, n);
    if (e) return Promise.reject(e);
    const lengths = Array.from(packetLengths, (l) => l >>> 0);
    const total = lengths.reduce((a, b) => a + b, 0);
    if (total > 0xffffffff) return Promise.reject(new DOMException('The total packet length exceeded the maximum size.', 'DataError'));
    if (total > MAX_TRANSFER_LENGTH) return Promise.reject(tooBig());
    const ep = this.endpointOf(true, n);
    return this.transfer(async () => {
      if (ep.type !== 'isochronous') throw transferError();
      const r = await this.submit(ep, {
        type: TransferType.ISOCHRONOUS, endpoint: 0x80 | n, length: total, isoPacketLengths: lengths,
        zeroLengthPacket: false, timeout: 0,
      });
      const buffer = new ArrayBuffer(total);
      const bytes = new Uint8Array(buffer);
      const packets: USBIsochronousInTransferPacket[] = [];
      let offset = 0;
      for (let i = 0; i < lengths.length; i++) {
        const p = r.isoPackets?.[i] ?? { status: r.status === TransferStatus.COMPLETED ? TransferStatus.ERROR : r.status };
        // as Chrome: one failed packet fails the whole transfer
        throwIfFatal(p.status);
        const data = p.data ?? new Uint8Array(0);
        const n = Math.min(data.length, lengths[i]);
        bytes.set(data.subarray(0, n), offset);
        const status = data.length > lengths[i] ? 'babble' : webStatus(p.status);
        packets.push(new USBIsochronousInTransferPacket(status, new DataView(buffer, offset, n)));
        offset += lengths[i];
      }
      return new USBIsochronousInTransferResult(packets, new DataView(buffer));
    });
  }

  /** WebUSB: `USBDevice.isochronousTransferOut()`. */
  isochronousTransferOut(endpointNumber: number, data: BufferSource, packetLengths: number[]): Promise<USBIsochronousOutTransferResult> {
    const bytes = copyBufferSource(data, 'isochronousTransferOut', 2);
    if (bytes instanceof Error) return Promise.reject(bytes);
    const n = endpointNumber & 0xff;
    const e = this.checkEndpoint(false, n);
    if (e) return Promise.reject(e);
    const lengths = Array.from(packetLengths, (l) => l >>> 0);
    const total = lengths.reduce((a, b) => a + b, 0);
    if (total > 0xffffffff) return Promise.reject(new DOMException('The total packet length exceeded the maximum size.', 'DataError'));
    if (total > MAX_TRANSFER_LENGTH) return Promise.reject(tooBig());
    if (total !== bytes.length) return Promise.reject(new DOMException('The data buffer size must match the total packet length.', 'DataError'));
    const ep = this.endpointOf(false, n);
    return this.transfer(async () => {
      if (ep.type !== 'isochronous') throw transferError();
      const r = await this.submit(ep, {
        type: TransferType.ISOCHRONOUS, endpoint: n, data: bytes, length: total, isoPacketLengths: lengths,
        zeroLengthPacket: false, timeout: 0,
      });
      const packets = lengths.map((len, i) => {
        const p = r.isoPackets?.[i] ?? { status: r.status === TransferStatus.COMPLETED ? TransferStatus.ERROR : r.status, length: 0 };
        throwIfFatal(p.status);
        return new USBIsochronousOutTransferPacket(webStatus(p.status), Math.min(p.length ?? len, len));
      });
      return new USBIsochronousOutTransferResult(packets);
    });
  }

  // ---- for SimUSB ------------------------------------------------------------

  /**
   * @internal The device left the bus (or was forgotten): transfers in flight
   * fail as their URBs do (NetworkError), every other pending call with NotFoundError.
   */
  disconnected(): void {
    if (!this.state.connected) return;
    this.state.connected = false;
    this.state.opened = false;
    const claims = claimsOf(this.sim);
    for (const [k, v] of claims) if (v === this.state) claims.delete(k);
    // transfers in flight end now, as failed URBs: NetworkError, before the disconnect event
    this.abortTransfers(() => true, TransferStatus.ERROR, false);
    const pending = [...this.pending];
    this.pending.clear();
    for (const p of pending) p.reject(new DOMException(DISCONNECTED, 'NotFoundError'));
  }

  // ---- internals -------------------------------------------------------------

  /**
   * Run a transfer. A disconnect does not reject it: the device fails it
   * (NO_DEVICE), as the kernel fails its URB, and it rejects with that.
   */
  private transfer<T>(run: () => Promise<T>): Promise<T> {
    return run();
  }

  /** Run the asynchronous part of a call; a disconnect rejects it with NotFoundError. */
  private track<T>(run: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const entry: Pending = { reject };
      this.pending.add(entry);
      run().then(
        (v) => this.pending.delete(entry) && resolve(v),
        (e) => this.pending.delete(entry) && reject(e),
      );
    });
  }

  /** A bulk, interrupt or isochronous transfer on the device, abortable by state changes. */
  private async submit(ep: EndpointInfo, request: TransferRequest): Promise<TransferResult> {
    const t: InFlightTransfer = { request, interfaceIndex: ep.interfaceIndex };
    this.transfers.add(t);
    try {
      const r = await this.sim.transfer(request);
      if (!t.killed) return r;
      // a transfer the kernel killed under a state change is reaped after the call has answered
      if (t.killed.later) await nextTask();
      return { status: t.killed.status };
    } finally {
      this.transfers.delete(t);
    }
  }

  /**
   * End transfers under a state change. close() cancels them (AbortError,
   * before it resolves); releaseInterface(), selectAlternateInterface() and
   * reset() make Linux kill their URBs, which Chrome reports as a transfer
   * error (NetworkError, after the call resolves).
   */
  private abortTransfers(which: (t: InFlightTransfer) => boolean, status: TransferStatusCode = TransferStatus.ERROR,
    later = status === TransferStatus.ERROR): void {
    for (const t of [...this.transfers]) {
      if (!which(t)) continue;
      t.killed = { status, later };
      this.sim.cancel(t.request);
    }
  }

  /** A standard OUT request without data; true if the device accepted it. */
  private async standard(bmRequestType: number, bRequest: number, wValue: number, wIndex: number): Promise<boolean> {
    const r = await this.sim.control({ bmRequestType, bRequest, wValue, wIndex, wLength: 0 });
    if (r.status === TransferStatus.NO_DEVICE) throw new DOMException(DISCONNECTED, 'NotFoundError');
    return r.status === TransferStatus.COMPLETED;
  }

  /**
   * Configuration and interface names are null: Chrome on Linux reads only
   * the device's three strings (measured with Chromium 156 on a real gadget).
   */
  private buildConfiguration(raw: Uint8Array, configIndex: number): USBConfiguration {
    const parsed = parseConfiguration(raw);
    const config = new USBConfiguration(parsed.value, null);
    const numbers: number[] = [];
    for (const a of parsed.alternates) if (!numbers.includes(a.interfaceNumber)) numbers.push(a.interfaceNumber);
    config.interfaces = Object.freeze(numbers.map((number, index) => new USBInterface(this, configIndex, index, number,
      parsed.alternates.filter((a) => a.interfaceNumber === number).map((a) => new USBAlternateInterface(
        a.alternate, a.interfaceClass, a.interfaceSubclass, a.interfaceProtocol, null,
        a.endpoints.map((e) => new USBEndpoint(e)))))));
    return config;
  }

  private configurationSelected(index: number): void {
    const count = this.configurations[index].interfaces.length;
    this.state.configIndex = index;
    this.state.claimed = new Array(count).fill(false);
    this.state.interfaceChange = new Array(count).fill(false);
    this.state.selectedAlternate = new Array(count).fill(0);
    this.state.inEndpoints.clear();
    this.state.outEndpoints.clear();
  }

  private releaseAllClaims(): void {
    const claims = claimsOf(this.sim);
    for (const [k, v] of claims) if (v === this.state) claims.delete(k);
  }

  private interfaceClaimedOrReleased(claimed: boolean, index: number): void {
    this.state.claimed[index] = claimed;
    if (!claimed) this.state.selectedAlternate[index] = 0;
    this.setEndpoints(index, claimed);
    this.state.interfaceChange[index] = false;
  }

  private setEndpoints(index: number, available: boolean): void {
    const iface = this.configuration?.interfaces[index];
    const alt = iface?.alternates[this.state.selectedAlternate[index] ?? 0];
    for (const e of alt?.endpoints ?? []) {
      if (e.endpointNumber === 0 || e.endpointNumber >= 16) continue;
      const set = e.direction === 'in' ? this.state.inEndpoints : this.state.outEndpoints;
      if (available) set.add(e.endpointNumber);
      else set.delete(e.endpointNumber);
    }
  }

  private interfaceIndex(number: number): number {
    return this.configuration?.interfaces.findIndex((i) => i.interfaceNumber === number) ?? -1;
  }

  private endpointOf(isIn: boolean, n: number): EndpointInfo {
    const config = this.configuration!;
    for (let index = 0; index < config.interfaces.length; index++) {
      const alt = config.interfaces[index].alternates[this.state.selectedAlternate[index]];
      const e = alt.endpoints.find((x) => x.endpointNumber === n && x.direction === (isIn ? 'in' : 'out'));
      if (e) {
        const kind = e.type === 'interrupt' ? TransferType.INTERRUPT : e.type === 'bulk' ? TransferType.BULK : TransferType.ISOCHRONOUS;
        return { type: e.type, kind, interfaceIndex: index };
      }
    }
    throw new Error(`endpoint ${n} is marked available but is not in the configuration`);
  }

  // ---- Chrome's checks ---------------------------------------------------------

  private checkNoDeviceChange(): DOMException | undefined {
    if (!this.state.connected) return new DOMException(DISCONNECTED, 'NotFoundError');
    if (this.state.deviceChange) return invalidState('An operation that changes the device state is in progress.');
    return undefined;
  }

  private checkNoDeviceOrInterfaceChange(): DOMException | undefined {
    return this.checkNoDeviceChange()
      ?? (this.state.interfaceChange.some(Boolean) ? invalidState(INTERFACE_CHANGE) : undefined);
  }

  private checkConfigured(): DOMException | undefined {
    return this.checkNoDeviceChange()
      ?? (!this.state.opened ? invalidState(OPEN_REQUIRED) : undefined)
      ?? (this.state.configIndex < 0 ? invalidState('The device must have a configuration selected.') : undefined);
  }

  private checkInterfaceClaimed(number: number): DOMException | undefined {
    const e = this.checkConfigured();
    if (e) return e;
    const index = this.interfaceIndex(number);
    if (index < 0) return new DOMException(INTERFACE_NOT_FOUND, 'NotFoundError');
    if (this.state.interfaceChange[index]) return invalidState(INTERFACE_CHANGE);
    if (!this.state.claimed[index]) return invalidState('The specified interface has not been claimed.');
    return undefined;
  }

  private checkEndpoint(isIn: boolean, n: number): DOMException | undefined {
    const e = this.checkConfigured();
    if (e) return e;
    if (n === 0 || n >= 16) return new DOMException('The specified endpoint number is out of range.', 'IndexSizeError');
    if (!(isIn ? this.state.inEndpoints : this.state.outEndpoints).has(n)) {
      return new DOMException('The specified endpoint is not part of a claimed and selected alternate interface.', 'NotFoundError');
    }
    return undefined;
  }

  private checkControl(setup: USBControlTransferParameters, method: string): Omit<SetupPacket, 'wLength'> | Error {
    const e = this.checkNoDeviceOrInterfaceChange() ?? (!this.state.opened ? invalidState(OPEN_REQUIRED) : undefined);
    if (e) return e;
    if (!setup || typeof setup !== 'object') return new TypeError(`Failed to execute '${method}' on 'USBDevice': parameter 1 is not an object.`);
    const type = ['standard', 'class', 'vendor'].indexOf(setup.requestType);
    const recipient = ['device', 'interface', 'endpoint', 'other'].indexOf(setup.recipient);
    for (const key of ['request', 'value', 'index'] as const) {
      if (setup[key] === undefined) return new TypeError(`Failed to execute '${method}' on 'USBDevice': required member ${key} is undefined.`);
    }
    if (type < 0) return new TypeError(`Failed to execute '${method}' on 'USBDevice': The provided value '${setup.requestType}' is not a valid enum value of type USBRequestType.`);
    if (recipient < 0) return new TypeError(`Failed to execute '${method}' on 'USBDevice': The provided value '${setup.recipient}' is not a valid enum value of type USBRecipient.`);
    const index = Number(setup.index) & 0xffff;
    if (recipient === 1) {
      const c = this.checkInterfaceClaimed(index & 0xff);
      if (c) return c;
    } else if (recipient === 2) {
      const c = this.checkEndpoint((index & 0x80) !== 0, index & 0x0f);
      if (c) return c;
    }
    return {
      bmRequestType: (type << 5) | recipient,
      bRequest: Number(setup.request) & 0xff,
      wValue: Number(setup.value) & 0xffff,
      wIndex: index,
    };
  }
}

/**
 * Chrome's bindings name the call in every exception a USBDevice method
 * rejects with: "Failed to execute 'claimInterface' on 'USBDevice': The
 * device must be opened first." The checks above make the bare message;
 * each method's promise gets the prefix here, once.
 */
const USB_DEVICE_METHODS = ['open', 'close', 'selectConfiguration', 'claimInterface', 'releaseInterface',
  'selectAlternateInterface', 'clearHalt', 'reset', 'controlTransferIn', 'controlTransferOut', 'transferIn', 'transferOut',
  'isochronousTransferIn', 'isochronousTransferOut'] as const;
for (const method of USB_DEVICE_METHODS) {
  const call = SimUSBDevice.prototype[method] as (this: SimUSBDevice, ...args: unknown[]) => Promise<unknown>;
  Object.defineProperty(SimUSBDevice.prototype, method, {
    configurable: true, writable: true,
    value(this: SimUSBDevice, ...args: unknown[]) {
      return call.apply(this, args).catch((e: unknown) => {
        throw e instanceof DOMException && !e.message.startsWith('Failed to execute')
          ? new DOMException(`Failed to execute '${method}' on 'USBDevice': ${e.message}`, e.name) : e;
      });
    },
  });
}

interface EndpointInfo {
  type: USBEndpointType;
  kind: typeof TransferType.BULK | typeof TransferType.INTERRUPT | typeof TransferType.ISOCHRONOUS;
  interfaceIndex: number;
}

function claimsOf(device: SimDevice): Map<number, DeviceState> {
  let m = claimsByDevice.get(device);
  if (!m) {
    m = new Map();
    claimsByDevice.set(device, m);
  }
  return m;
}

/**
 * The standard requests Chrome lets a page send itself: these IN requests
 * only. Every other standard request (SET_FEATURE, SET_CONFIGURATION,
 * SET_INTERFACE, CLEAR_FEATURE... and unknown ones) is refused with
 * SecurityError: state changes go through USBDevice's own methods (measured
 * with Chromium 156 on a real gadget).
 */
const ALLOWED_STANDARD_REQUESTS: ReadonlySet<number> = new Set([StandardRequest.GET_STATUS, StandardRequest.GET_DESCRIPTOR,
  StandardRequest.GET_CONFIGURATION, StandardRequest.GET_INTERFACE, StandardRequest.SYNCH_FRAME]);

function standardRequestAllowed(setup: SetupPacket): boolean {
  if ((setup.bmRequestType & RequestType.TYPE_MASK) !== RequestType.TYPE_STANDARD) return true;
  return (setup.bmRequestType & RequestType.DIR_IN) !== 0 && ALLOWED_STANDARD_REQUESTS.has(setup.bRequest);
}

function notAllowed(): DOMException {
  return new DOMException('The transfer was not allowed.', 'SecurityError');
}

function invalidState(message: string): DOMException {
  return new DOMException(message, 'InvalidStateError');
}

function transferError(): DOMException {
  return new DOMException('A transfer error has occurred.', 'NetworkError');
}

function tooBig(): DOMException {
  return new DOMException(`The data buffer exceeded supported maximum size of ${MAX_TRANSFER_LENGTH} bytes`, 'DataError');
}

function checkDirection(direction: unknown, method: string): USBDirection | TypeError {
  if (direction === 'in' || direction === 'out') return direction;
  return new TypeError(`Failed to execute '${method}' on 'USBDevice': The provided value '${String(direction)}' is not a valid enum value of type USBDirection.`);
}

/** Chrome's fatal transfer statuses reject the promise (CheckFatalTransferStatus). */
function throwIfFatal(status: TransferStatusCode | number): void {
  switch (status) {
    case TransferStatus.ERROR:
      throw transferError();
    case TransferStatus.TIMED_OUT:
      throw new DOMException('The transfer timed out.', 'TimeoutError');
    case TransferStatus.CANCELLED:
      throw new DOMException('The transfer was cancelled.', 'AbortError');
    case TransferStatus.NO_DEVICE: // the kernel fails the URB; Chrome on Linux reports a transfer error
      throw transferError();
    default:
  }
}

function webStatus(status: number): USBTransferStatus {
  return status === TransferStatus.STALL ? 'stall' : status === TransferStatus.OVERFLOW ? 'babble' : 'ok';
}

/** Result data in a fresh ArrayBuffer, as the platform hands it over. */
function freshView(data: Uint8Array | undefined): DataView {
  const copy = data ? data.slice() : new Uint8Array(0);
  return new DataView(copy.buffer, 0, copy.length);
}

/**
 * WebIDL's BufferSource conversion plus Chrome's detached check: views of
 * a SharedArrayBuffer are a TypeError. Returns a copy: the platform takes
 * the bytes when the call is made.
 */
function copyBufferSource(data: unknown, method: string, argument: number): Uint8Array | Error {
  let buffer: ArrayBufferLike;
  let bytes: Uint8Array;
  if (ArrayBuffer.isView(data)) {
    buffer = data.buffer;
    bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  } else if (data instanceof ArrayBuffer || isSharedArrayBuffer(data)) {
    buffer = data as ArrayBufferLike;
    bytes = new Uint8Array(data as ArrayBufferLike);
  } else {
    return new TypeError(`Failed to execute '${method}' on 'USBDevice': parameter ${argument} is not of type '(ArrayBuffer or ArrayBufferView)'.`);
  }
  if (isSharedArrayBuffer(buffer)) {
    return new TypeError(`Failed to execute '${method}' on 'USBDevice': The provided ${ArrayBuffer.isView(data) ? 'ArrayBufferView' : 'ArrayBuffer'} value must not be shared.`);
  }
  if ((buffer as ArrayBuffer & { detached?: boolean }).detached) {
    return invalidState('The data buffer has been detached.');
  }
  return bytes.slice();
}

function isSharedArrayBuffer(b: unknown): boolean {
  return typeof SharedArrayBuffer !== 'undefined' && b instanceof SharedArrayBuffer;
}

/** Let a task pass: state changes in Chrome take an IPC round trip. */
function nextTask(): Promise<void> {
  return new Promise((r) => setTimeout(r, 0));
}
