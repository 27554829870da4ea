// `await using` needs Symbol.asyncDispose: the declarations bring its lib, so that a project with
// lib ["dom", "es2022"] and no @types/node type-checks them (preserve keeps it in the .d.ts)
/// <reference lib="esnext.disposable" preserve="true" />
/**
 * The typed JS API, caller's side: {@link Context}, {@link Device} and
 * {@link DeviceHandle}. Every call is a promise that crosses to the worker
 * with comlink, where the real libusb does the work (see ./server.ts and
 * wasm/api/shim.c). The same classes serve Node and browsers; only how the
 * worker is started differs (./node.ts, ./browser.ts).
 * @module
 */
import * as Comlink from 'comlink';
import type { SimControl } from '../sim/control.js';
import { ENDPOINT_IN, TransferType } from '../usb/constants.js';
import { LibusbError, TransferError, isWireError, transferStatusName } from './errors.js';
import type { KeepAlive } from './keep-alive.js';
import type { ApiServer, ServerEvent, WireTransfer, WireTransferResult } from './server.js';
import type {
  BosDescriptor, ConfigDescriptor, ControlSetup, DeviceDescriptor, DeviceInfo, IsoTransferResult, LogLevel,
  DeviceSpeed, TransferOptions, TransferResult,
} from './types.js';

/** Options of {@link createContext}, in every environment. */
export interface ContextOptions {
  /** libusb's log level (LIBUSB_OPTION_LOG_LEVEL). Default `'none'`. */
  logLevel?: LogLevel;
  /** libusb's log messages (LIBUSB_OPTION_LOG_CB), one call per message. */
  onLog?: (level: LogLevel, message: string) => void;
  /** LIBUSB_OPTION_NO_DEVICE_DISCOVERY: no device list, no hotplug. */
  noDeviceDiscovery?: boolean;
}

/** A device arrived (`connect`) or left (`disconnect`): libusb's hotplug events. */
export class HotplugEvent extends Event {
  /** The device. After `disconnect` it can no longer be opened. */
  readonly device: Device;
  constructor(type: 'connect' | 'disconnect', device: Device) {
    super(type);
    this.device = device;
  }
}

/** The events a {@link Context} dispatches. */
export interface ContextEventMap {
  /** A device arrived (LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED). */
  connect: HotplugEvent;
  /** A device left (LIBUSB_HOTPLUG_EVENT_DEVICE_LEFT). */
  disconnect: HotplugEvent;
}

/**
 * How a context reaches its worker: the remote API server, and what the
 * environment-specific starter knows about the worker.
 * @internal
 */
export interface WorkerLink {
  api: Comlink.Remote<ApiServer>;
  /** Remote control of the simulated devices, when the transport is `sim`. */
  sim?: Comlink.Remote<SimControl>;
  /** Settles when the worker has ended (resolves with its exit status). */
  ended: Promise<number>;
  /** End the worker now. */
  terminate(): Promise<void>;
  /** Node: what holds the process open (the worker, its ports). */
  keepAlive?: KeepAlive;
}

/**
 * A libusb context running in a worker (libusb_init_context). Created by
 * `createContext()`; end it with {@link Context.exit}. It dispatches
 * {@link HotplugEvent}s: `connect` and `disconnect`.
 */
export class Context extends EventTarget {
  /** @internal How this context reaches its worker. */
  declare readonly link: WorkerLink;
  /**
   * Remote control of the simulated devices (plug, unplug, inspect) when
   * the transport is `sim`; undefined otherwise.
   */
  get sim(): Comlink.Remote<SimControl> | undefined {
    return this.link.sim;
  }
  /** True when libusb reports hotplug support (LIBUSB_CAP_HAS_HOTPLUG) for this context. */
  readonly hasHotplug: boolean;
  private readonly devices = new Map<number, Device>();
  private exiting?: Promise<void>;
  private endedStatus?: number;
  private nextTransferId = 1;

  /** @internal */
  constructor(
    link: WorkerLink,
    hasHotplug: boolean,
  ) {
    super();
    // not enumerable: the link holds comlink proxies, which printing would poke
    Object.defineProperty(this, 'link', { value: link, enumerable: false });
    this.hasHotplug = hasHotplug;
    link.ended.then((status) => (this.endedStatus = status), () => (this.endedStatus = -1));
  }

  /** @internal Start libusb in a worker that has the API shim loaded. */
  static async start(link: WorkerLink, options: ContextOptions): Promise<Context> {
    // events travel on a port of their own, closed when the worker ends
    const { port1, port2 } = new MessageChannel();
    const early: ServerEvent[] = [];
    let context: Context | undefined;
    port1.onmessage = (m: MessageEvent<ServerEvent>) => {
      if (context) context.onServerEvent(m.data, options);
      else if (m.data.type === 'log') options.onLog?.(m.data.level, m.data.message);
      else early.push(m.data);
    };
    void link.ended.finally(() => port1.close());
    link.keepAlive?.track(port1);
    await guard(link, link.api.subscribe(Comlink.transfer(port2, [port2])));
    const init = await guard(link, link.api.init({ logLevel: options.logLevel ?? 'none', noDeviceDiscovery: options.noDeviceDiscovery }));
    context = new Context(link, init.hotplug);
    for (const e of early) context.onServerEvent(e, options);
    return context;
  }

  /** The devices present now (libusb_get_device_list), with their descriptors. */
  async getDeviceList(): Promise<Device[]> {
    const infos = await this.call((api) => api.getDeviceList());
    return infos.map((info) => this.device(info));
  }

  /** Change libusb's log level (libusb_set_option(LIBUSB_OPTION_LOG_LEVEL)). */
  async setLogLevel(level: LogLevel): Promise<void> {
    await this.call((api) => api.setLogLevel(level));
  }

  /**
   * Close every handle (cancelling their transfers), libusb_exit, and end
   * the worker. Safe to call more than once.
   */
  exit(): Promise<void> {
    this.exiting ??= (async () => {
      if (this.endedStatus === undefined) {
        try {
          await guard(this.link, this.link.api.exit());
        } catch {
          // the worker is going away either way
        }
        // the shim ends its program after EXIT; give it a moment, then end the worker anyway
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([this.link.ended, new Promise((r) => (timer = setTimeout(r, 5000)))]);
        clearTimeout(timer);
      }
      await this.link.terminate();
    })();
    return this.exiting;
  }

  /**
   * Node: let the process end while this context is open and idle (a call
   * in flight still holds it open), as `createContext({ keepAlive: false })`
   * does. Nothing to do in browsers.
   */
  unref(): void {
    this.link.keepAlive?.set(false);
  }

  /** Node: keep the process running while this context is open (the default); undoes {@link unref}. */
  ref(): void {
    this.link.keepAlive?.set(true);
  }

  /** `await using usb = await createContext()` ends the context at the end of the scope. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.exit();
  }

  /** Listen for `connect` and `disconnect` ({@link HotplugEvent}). */
  override addEventListener<K extends keyof ContextEventMap>(type: K,
    listener: ((event: ContextEventMap[K]) => void) | { handleEvent(event: ContextEventMap[K]): void } | null,
    options?: boolean | AddEventListenerOptions): void;
  /** EventTarget's own signature. */
  override addEventListener(type: string, listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions): void;
  override addEventListener(type: string, listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions): void {
    super.addEventListener(type, listener, options);
  }

  /** Stop listening. */
  override removeEventListener<K extends keyof ContextEventMap>(type: K,
    listener: ((event: ContextEventMap[K]) => void) | { handleEvent(event: ContextEventMap[K]): void } | null,
    options?: boolean | EventListenerOptions): void;
  /** EventTarget's own signature. */
  override removeEventListener(type: string, listener: EventListenerOrEventListenerObject | null,
    options?: boolean | EventListenerOptions): void;
  override removeEventListener(type: string, listener: EventListenerOrEventListenerObject | null,
    options?: boolean | EventListenerOptions): void {
    super.removeEventListener(type, listener, options);
  }

  /** @internal Run a remote call, turning worker failures into LibusbErrors. */
  call<T>(fn: (api: Comlink.Remote<ApiServer>) => Promise<T>): Promise<T> {
    if (this.endedStatus !== undefined) return Promise.reject(ended(this.endedStatus));
    const release = this.link.keepAlive?.hold();
    return release ? guard(this.link, fn(this.link.api)).finally(release) : guard(this.link, fn(this.link.api));
  }

  /** @internal */
  transferId(): number {
    return this.nextTransferId++;
  }

  private device(info: DeviceInfo): Device {
    let d = this.devices.get(info.id);
    if (!d) {
      d = new Device(this, info);
      this.devices.set(info.id, d);
    }
    return d;
  }

  private onServerEvent(e: ServerEvent, options: ContextOptions): void {
    if (e.type === 'log') {
      options.onLog?.(e.level, e.message);
    } else if (e.type === 'connect') {
      this.dispatchEvent(new HotplugEvent('connect', this.device(e.device)));
    } else {
      const d = this.devices.get(e.id);
      this.devices.delete(e.id);
      if (d) this.dispatchEvent(new HotplugEvent('disconnect', d));
    }
  }
}

function ended(status: number): LibusbError {
  return new LibusbError(-4, `the libusb worker has ended (status ${status})`);
}

/** Await a remote call; a WireError becomes a LibusbError, and the worker ending rejects it. */
async function guard<T>(link: WorkerLink, call: Promise<T>): Promise<T> {
  try {
    return await Promise.race([call, link.ended.then((status) => Promise.reject(ended(status)))]);
  } catch (e) {
    if (isWireError(e)) throw new LibusbError(e.libusbError, e.message);
    throw e;
  }
}

/** A USB device as libusb lists it (libusb_device), with its descriptors. */
export class Device {
  /** Identifies the device within its context. */
  readonly id: number;
  /** Number of the bus the device is on (libusb_get_bus_number). */
  readonly busNumber: number;
  /** Address of the device on its bus (libusb_get_device_address). */
  readonly deviceAddress: number;
  /** Port numbers from the root hub down (libusb_get_port_numbers). */
  readonly portNumbers: number[];
  /** The speed the device operates at (libusb_get_device_speed). */
  readonly speed: DeviceSpeed;
  /** The device descriptor (libusb_get_device_descriptor). */
  readonly deviceDescriptor: DeviceDescriptor;
  /** The configuration descriptors, by index, as libusb parsed them. */
  readonly configurations: ConfigDescriptor[];
  /** The manufacturer string, when the platform knows it without opening the device. */
  readonly manufacturer?: string;
  /** The product string, likewise. */
  readonly product?: string;
  /** The serial number, likewise. */
  readonly serialNumber?: string;
  declare private readonly context: Context;

  /** @internal */
  constructor(context: Context, info: DeviceInfo) {
    Object.defineProperty(this, 'context', { value: context, enumerable: false });
    this.id = info.id;
    this.busNumber = info.busNumber;
    this.deviceAddress = info.deviceAddress;
    this.portNumbers = info.portNumbers;
    this.speed = info.speed;
    this.deviceDescriptor = info.deviceDescriptor;
    this.configurations = info.configurations;
    this.manufacturer = info.manufacturer;
    this.product = info.product;
    this.serialNumber = info.serialNumber;
  }

  /** idVendor of the device descriptor. */
  get vendorId(): number {
    return this.deviceDescriptor.idVendor;
  }

  /** idProduct of the device descriptor. */
  get productId(): number {
    return this.deviceDescriptor.idProduct;
  }

  /** Open the device (libusb_open). */
  async open(): Promise<DeviceHandle> {
    const id = await this.context.call((api) => api.open(this.id));
    return new DeviceHandle(this.context, this, id);
  }
}

/** An open device (libusb_device_handle). Close it with {@link DeviceHandle.close}. */
export class DeviceHandle {
  /** The device this handle is open on. */
  readonly device: Device;
  declare private readonly context: Context;
  private readonly id: number;

  /** @internal */
  constructor(context: Context, device: Device, id: number) {
    Object.defineProperty(this, 'context', { value: context, enumerable: false });
    this.device = device;
    this.id = id;
  }

  /** Cancel this handle's transfers and close it (libusb_close). */
  async close(): Promise<void> {
    await this.context.call((api) => api.close(this.id));
  }

  /** `await using h = await device.open()` closes the handle at the end of the scope. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** The active configuration's bConfigurationValue, 0 when unconfigured (libusb_get_configuration). */
  getConfiguration(): Promise<number> {
    return this.context.call((api) => api.getConfiguration(this.id));
  }

  /** Select a configuration; -1 unconfigures the device (libusb_set_configuration). */
  async setConfiguration(value: number): Promise<void> {
    await this.context.call((api) => api.setConfiguration(this.id, value));
  }

  /** libusb_claim_interface. */
  async claimInterface(iface: number): Promise<void> {
    await this.context.call((api) => api.claimInterface(this.id, iface));
  }

  /** libusb_release_interface (the interface goes back to alternate setting 0). */
  async releaseInterface(iface: number): Promise<void> {
    await this.context.call((api) => api.releaseInterface(this.id, iface));
  }

  /** libusb_set_interface_alt_setting. */
  async setInterfaceAltSetting(iface: number, alternate: number): Promise<void> {
    await this.context.call((api) => api.setInterfaceAltSetting(this.id, iface, alternate));
  }

  /** Clear an endpoint's halt (stall) condition (libusb_clear_halt). */
  async clearHalt(endpoint: number): Promise<void> {
    await this.context.call((api) => api.clearHalt(this.id, endpoint));
  }

  /**
   * libusb_reset_device. Rejects with LIBUSB_ERROR_NOT_FOUND when the device
   * re-enumerated as something else: get a new device list then.
   */
  async resetDevice(): Promise<void> {
    await this.context.call((api) => api.resetDevice(this.id));
  }

  /** Whether a kernel driver is bound to the interface (libusb_kernel_driver_active). */
  kernelDriverActive(iface: number): Promise<boolean> {
    return this.context.call((api) => api.kernelDriverActive(this.id, iface));
  }

  /** libusb_detach_kernel_driver. */
  async detachKernelDriver(iface: number): Promise<void> {
    await this.context.call((api) => api.detachKernelDriver(this.id, iface));
  }

  /** libusb_attach_kernel_driver. */
  async attachKernelDriver(iface: number): Promise<void> {
    await this.context.call((api) => api.attachKernelDriver(this.id, iface));
  }

  /** libusb_set_auto_detach_kernel_driver. */
  async setAutoDetachKernelDriver(enable: boolean): Promise<void> {
    await this.context.call((api) => api.setAutoDetachKernelDriver(this.id, enable));
  }

  /**
   * Read string descriptor `index` (libusb_get_string_descriptor), in
   * `langid`, or by default in the first language the device lists.
   */
  async getStringDescriptor(index: number, langid = 0): Promise<string> {
    return (await this.context.call((api) => api.getStringDescriptor(this.id, index, langid))).text;
  }

  /** The Binary Object Store (libusb_get_bos_descriptor); LIBUSB_ERROR_PIPE when the device has none. */
  getBosDescriptor(): Promise<BosDescriptor> {
    return this.context.call((api) => api.getBosDescriptor(this.id));
  }

  /**
   * A control transfer. For IN requests (bmRequestType bit 7 set) pass the
   * number of bytes wanted (wLength); for OUT requests the data (or nothing).
   */
  async controlTransfer(setup: ControlSetup, dataOrLength?: Uint8Array | number,
    options: TransferOptions = {}): Promise<TransferResult> {
    const isIn = (setup.bmRequestType & ENDPOINT_IN) !== 0;
    const data = typeof dataOrLength === 'number' ? undefined : dataOrLength;
    const length = typeof dataOrLength === 'number' ? dataOrLength : (data?.length ?? 0);
    if (isIn && data) throw new TypeError('an IN control transfer takes the number of bytes to read, not data');
    if (!isIn && typeof dataOrLength === 'number' && dataOrLength !== 0) {
      throw new TypeError('an OUT control transfer takes its data, not a length');
    }
    if (length > 0xffff) throw new RangeError('a control transfer moves at most 65535 bytes');
    const packet = new Uint8Array(8);
    const view = new DataView(packet.buffer);
    packet[0] = setup.bmRequestType;
    packet[1] = setup.bRequest;
    view.setUint16(2, setup.wValue, true);
    view.setUint16(4, setup.wIndex, true);
    view.setUint16(6, length, true);
    return this.run({ type: TransferType.CONTROL, endpoint: 0, setup: packet, data, length: isIn ? length : undefined }, options);
  }

  /** A bulk transfer: data to send on an OUT endpoint, or the number of bytes to read on an IN endpoint. */
  bulkTransfer(endpoint: number, dataOrLength: Uint8Array | number, options: TransferOptions = {}): Promise<TransferResult> {
    return this.run(this.simple(TransferType.BULK, endpoint, dataOrLength), options);
  }

  /** An interrupt transfer, like {@link DeviceHandle.bulkTransfer}. */
  interruptTransfer(endpoint: number, dataOrLength: Uint8Array | number, options: TransferOptions = {}): Promise<TransferResult> {
    return this.run(this.simple(TransferType.INTERRUPT, endpoint, dataOrLength), options);
  }

  /**
   * An isochronous transfer. IN: `packets` are the lengths to read per
   * packet. OUT: `packets` are the packets' bytes. Each packet comes back
   * with its own status; the promise rejects only when the transfer as a
   * whole fails.
   */
  async isochronousTransfer(endpoint: number, packets: number[] | Uint8Array[],
    options: TransferOptions = {}): Promise<IsoTransferResult> {
    const isIn = (endpoint & ENDPOINT_IN) !== 0;
    let lengths: number[];
    let data: Uint8Array | undefined;
    if (isIn) {
      if (!packets.every((p) => typeof p === 'number')) throw new TypeError('an IN isochronous transfer takes packet lengths');
      lengths = packets as number[];
    } else {
      if (!packets.every((p) => p instanceof Uint8Array)) throw new TypeError('an OUT isochronous transfer takes packet data');
      const parts = packets as Uint8Array[];
      lengths = parts.map((p) => p.length);
      data = new Uint8Array(lengths.reduce((a, b) => a + b, 0));
      let off = 0;
      for (const p of parts) {
        data.set(p, off);
        off += p.length;
      }
    }
    const length = lengths.reduce((a, b) => a + b, 0);
    const r = await this.submit({ type: TransferType.ISOCHRONOUS, endpoint, data, length: isIn ? length : undefined, isoPacketLengths: lengths }, options);
    if (r.status !== 0) throw new TransferError(transferStatusName(r.status), r.actualLength);
    return {
      packets: (r.iso ?? []).map((p) => ({
        status: transferStatusName(p.status), actualLength: p.actualLength, ...(isIn ? { data: p.data } : {}),
      })),
    };
  }

  private simple(type: number, endpoint: number, dataOrLength: Uint8Array | number): Omit<WireTransfer, 'handle' | 'timeout' | 'flags'> {
    const isIn = (endpoint & ENDPOINT_IN) !== 0;
    if (isIn && typeof dataOrLength !== 'number') throw new TypeError(`endpoint 0x${endpoint.toString(16)} is IN: pass the number of bytes to read`);
    if (!isIn && typeof dataOrLength === 'number') throw new TypeError(`endpoint 0x${endpoint.toString(16)} is OUT: pass the data to send`);
    return isIn ? { type, endpoint, length: dataOrLength as number } : { type, endpoint, data: dataOrLength as Uint8Array };
  }

  private async run(t: Omit<WireTransfer, 'handle' | 'timeout' | 'flags'>, options: TransferOptions): Promise<TransferResult> {
    const r = await this.submit(t, options);
    const status = transferStatusName(r.status);
    if (status !== 'completed') throw new TransferError(status, r.actualLength, r.data);
    return r.data ? { actualLength: r.actualLength, data: r.data } : { actualLength: r.actualLength };
  }

  /** Submit through the worker, with the signal wired to libusb_cancel_transfer. */
  private async submit(t: Omit<WireTransfer, 'handle' | 'timeout' | 'flags'>, options: TransferOptions): Promise<WireTransferResult> {
    const { signal } = options;
    signal?.throwIfAborted();
    const timeout = options.timeout ?? 0;
    if (!Number.isInteger(timeout) || timeout < 0 || timeout > 0xffffffff) {
      throw new RangeError(`timeout must be a whole number of milliseconds, got ${timeout}`);
    }
    const flags = (options.shortNotOk ? 1 : 0) | (options.zeroLengthPacket ? 8 : 0);
    const id = this.context.transferId();
    const wire: WireTransfer = { ...t, handle: this.id, timeout, flags };
    const onAbort = () => void this.context.call((api) => api.cancel(id)).catch(() => {});
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const r = await this.context.call((api) => api.transfer(id, wire));
      if (signal?.aborted && transferStatusName(r.status) === 'cancelled') throw signal.reason;
      return r;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }
}
