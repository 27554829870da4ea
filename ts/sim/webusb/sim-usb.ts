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
import { PROTECTED_CLASSES, checkFilter, deviceFacts, matchesFilter, type DeviceFilter } from '../../usb/filters.js';
import type { SimAttachment, SimBus } from '../bus.js';
import type { USBDeviceRequestOptions } from './objects.js';
import { SimUSBDevice, type SimUsbContext } from './sim-usb-device.js';
import { resultScheduler, type ResultDelivery, type TaskScheduler } from './delivery.js';

export { SimUSBDevice } from './sim-usb-device.js';
export * from './objects.js';
export type { ResultDelivery } from './delivery.js';

/** Options of {@link SimUSB}. */
export interface SimUsbOptions {
  /**
   * Interface classes whose claim fails with SecurityError. Default: Chrome's
   * list ({@link PROTECTED_CLASSES}); `[]` allows every class, as
   * Chrome does for policy-allowed origins and the `usb` package in Node.
   */
  protectedClasses?: readonly number[];
  /**
   * How calls settle: `'microtask'` (default) as soon as the device model
   * answers, `'task'` one task per answer, as Chrome delivers WebUSB
   * results (see delivery.ts).
   */
  resultDelivery?: ResultDelivery;
}


// ---- USB ---------------------------------------------------------------------

/** `USBConnectionEvent`: fired on the USB object as `connect` and `disconnect`. */
export class USBConnectionEvent extends Event {
  readonly device: SimUSBDevice;
  constructor(type: 'connect' | 'disconnect', init: { device: SimUSBDevice }) {
    super(type);
    this.device = init.device;
  }
}

type ConnectionListener = ((event: USBConnectionEvent) => void) | null;

/** `navigator.usb` over the devices of a {@link SimBus}. */
export class SimUSB extends EventTarget implements SimUsbContext {
  /** WebUSB: `navigator.usb.onconnect`. */
  onconnect: ConnectionListener = null;
  /** WebUSB: `navigator.usb.ondisconnect`. */
  ondisconnect: ConnectionListener = null;
  /** The options it was made with, defaults filled in. */
  readonly options: Required<SimUsbOptions>;
  /** @internal Runs each answer in a task of its own (resultDelivery 'task'). */
  readonly scheduleResult: TaskScheduler | undefined;
  private readonly bus: SimBus;
  private readonly devices = new Map<SimAttachment, SimUSBDevice>();
  private readonly forgotten = new WeakSet<SimAttachment>();
  private readonly unsubscribe: () => void;

  constructor(bus: SimBus, options: SimUsbOptions = {}) {
    super();
    this.bus = bus;
    this.options = { protectedClasses: options.protectedClasses ?? PROTECTED_CLASSES, resultDelivery: options.resultDelivery ?? 'microtask' };
    this.scheduleResult = resultScheduler(this.options.resultDelivery);
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

