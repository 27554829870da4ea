/**
 * The `node` transport: real USB devices in Node, through the npm `usb`
 * package (3.x, a WebUSB-shaped binding over the nusb Rust library).
 *
 * Its device objects are WebUSB-shaped, so the transport is the webusb
 * transport's shared adapter (../webusb/) plus only
 * what is node's own:
 * - where a device sits (bus, port numbers, address, speed) from the binding;
 * - kernel drivers: detach and attach through the binding, "active" from
 *   sysfs (the binding cannot say), on Linux;
 * - the binding's quirks and libusb's timeouts (./binding.ts);
 * - no isochronous transfers: usb@3.1.0 does not implement them, so
 *   libusb_submit_transfer answers LIBUSB_ERROR_NOT_SUPPORTED.
 * Hotplug comes from the package's attach and detach events (on Linux it
 * hears them through udev's netlink group: a running udev is needed).
 * Every asynchronous call into the binding is counted, and closing the
 * transport waits for them to end: a worker thread must not exit while one
 * is pending (./native-calls.ts).
 *
 * Copies of transfer data: OUT data goes to the binding as a view of the
 * program's buffer (none of ours; the binding copies it twice on its way to
 * the kernel); IN data arrives in a buffer of the binding's that the host
 * copies once into the program's buffer.
 *
 * ```js
 * import { createNodeTransport } from 'libusb-wasm/transports/node';
 * const transport = await createNodeTransport();   // needs the usb package: npm install usb
 * console.log((await transport.getDevices()).map((d) => d.location));
 * await transport.close();
 * ```
 * @module libusb-wasm/transports/node
 */
import { ErrorCode, Speed, type SpeedCode } from '../../usb/constants.js';
import {
  TransportError, type DeviceLocation, type RawDescriptors, type ResetOutcome, type TransferRequest,
} from '../transport.js';
import { WebUsbDevice, type USBTransferCalls } from '../webusb/device.js';
import { WebUsbTransport } from '../webusb/index.js';
import type { USBDeviceLike, USBLike } from '../webusb/types.js';
import { BindingDevice, FIRST_SLICE_MAX_MS, type UsbPackageDevice } from './binding.js';
import { NativeCalls } from './native-calls.js';
import { NativeUsb, type UsbNativeModule } from './native-usb.js';
import { SysfsDevice, sysfsAvailable } from './sysfs.js';

export { NativeCalls } from './native-calls.js';

const SPEEDS: Record<string, SpeedCode> = {
  low: Speed.LOW, full: Speed.FULL, high: Speed.HIGH, super: Speed.SUPER, superPlus: Speed.SUPER_PLUS,
};

/** A device of the `usb` package: the shared adapter plus kernel drivers and the binding's needs. */
export class NodeUsbDevice extends WebUsbDevice {
  /** usb@3.1.0 answers "method not implemented" for isochronous transfers. */
  readonly supportsIsochronous = false;
  /**
   * Linux: the raw descriptors from sysfs, the bytes the kernel read from the
   * device, as libusb's Linux backend does. Listing devices then needs no
   * access to them: one without permission is listed, and opening it
   * answers LIBUSB_ERROR_ACCESS. Elsewhere the host opens the device and
   * reads them with GET_DESCRIPTOR.
   */
  readonly readDescriptors?: () => Promise<RawDescriptors>;
  private readonly binding: BindingDevice;
  private readonly sysfs?: SysfsDevice;

  constructor(binding: BindingDevice, location: DeviceLocation, gone: Promise<void>, sysfs?: SysfsDevice,
    log?: (message: string) => void) {
    super(binding, { location, gone, acceptsSharedMemory: true, log });
    this.binding = binding;
    this.sysfs = sysfs;
    const fromSysfs = sysfs?.descriptors();
    if (fromSysfs) this.readDescriptors = async () => fromSysfs;
  }

  protected override deviceFor(request: TransferRequest): USBTransferCalls {
    return this.binding.forRequest(request);
  }

  override cancel(request: TransferRequest): boolean {
    // an OUT transfer still queued never reaches the device; the rest is the adapter's
    return this.binding.cancelQueued(request) || super.cancel(request);
  }

  // The binding holds an interface until its pending calls end: let them end first.
  /** Release an interface, once no transfer is with the binding. */
  override async releaseInterface(iface: number): Promise<void> {
    await this.binding.quiesce(this.binding.endpointsOf(iface));
    await super.releaseInterface(iface);
  }

  /** Close the device. */
  override async close(): Promise<void> {
    await this.binding.quiesce();
    await super.close();
  }

  /** SET_CONFIGURATION, once no transfer is with the binding. */
  override async setConfiguration(value: number): Promise<void> {
    await this.binding.quiesce();
    await super.setConfiguration(value);
  }

  /** CLEAR_FEATURE(ENDPOINT_HALT), once no transfer is with the binding. */
  override async clearHalt(endpoint: number): Promise<void> {
    await this.binding.quiesce([endpoint]);
    await super.clearHalt(endpoint);
  }

  /** A bus reset through the binding. */
  override async reset(): Promise<ResetOutcome> {
    await this.binding.quiesce();
    return super.reset();
  }

  // ---- kernel drivers (Linux) ------------------------------------------------

  /** Whether a kernel driver holds the interface (sysfs on Linux, else the binding). */
  async kernelDriverActive(iface: number): Promise<boolean> {
    const sysfs = this.linux();
    if (!sysfs.present()) throw new TransportError(ErrorCode.NO_DEVICE);
    if (!sysfs.hasInterface(iface)) throw new TransportError(ErrorCode.NOT_FOUND, `no interface ${iface}`);
    const driver = sysfs.interfaceDriver(iface);
    // usbfs is a program holding the interface (maybe us), not a kernel driver
    return driver !== undefined && driver !== 'usbfs';
  }

  /** Detach the interface's kernel driver (the binding's, Linux only). */
  async detachKernelDriver(iface: number): Promise<void> {
    const sysfs = this.linux();
    if (sysfs.interfaceDriver(iface) === 'usbfs') throw new TransportError(ErrorCode.NOT_FOUND, 'held by a program, not a kernel driver');
    await this.kernelCall(() => this.binding.raw.detachKernelDriver(iface));
  }

  /** Re-attach it. */
  async attachKernelDriver(iface: number): Promise<void> {
    this.linux();
    await this.kernelCall(() => this.binding.raw.attachKernelDriver(iface));
  }

  private linux(): SysfsDevice {
    if (!this.sysfs) throw new TransportError(ErrorCode.NOT_SUPPORTED, 'kernel drivers: Linux only (the usb package)');
    return this.sysfs;
  }

  /** libusb's Linux backend's codes for the kernel's answers. */
  private async kernelCall(fn: () => Promise<void>): Promise<void> {
    try {
      await this.binding.track(fn);
    } catch (e) {
      const m = e instanceof Error ? e.message : String(e);
      const errno = Number(/errno (\d+)/.exec(m)?.[1]);
      const code = errno === 61 ? ErrorCode.NOT_FOUND // ENODATA: no driver
        : errno === 16 ? ErrorCode.BUSY
        : errno === 19 || !this.binding.present() ? ErrorCode.NO_DEVICE
        : errno === 22 ? ErrorCode.INVALID_PARAM
        : errno === 13 || errno === 1 ? ErrorCode.ACCESS
        : /not found/.test(m) ? ErrorCode.NOT_FOUND
        : ErrorCode.OTHER;
      throw new TransportError(code, m);
    }
  }
}

/**
 * How long closing waits for the binding's calls to end once the devices are
 * closed. An abandoned IN transfer ends within its slice; what takes longer
 * is a control or OUT transfer with a long timeout (or none) that the device
 * does not answer.
 */
export const CLOSE_LIMIT_MS = FIRST_SLICE_MAX_MS + 5000;

/** The transport over the `usb` package's native calls (navigator.usb's shape, all devices allowed). */
export class NodeTransport extends WebUsbTransport {
  private readonly onSysfs = sysfsAvailable();
  private readonly busNumbers = new Map<string, number>();
  /** Every asynchronous call into the binding, by this transport and its devices. */
  private readonly calls: NativeCalls;
  /** Device objects' handles (see deviceKey). */
  private readonly handles = new WeakMap<USBDeviceLike, string>();

  constructor(usb: USBLike, options: { log?: (message: string) => void; calls?: NativeCalls } = {}) {
    super(usb, { name: 'node', log: options.log });
    this.calls = options.calls ?? new NativeCalls();
  }

  /**
   * Close the devices, stop the hotplug watcher, and wait (at most
   * {@link CLOSE_LIMIT_MS}) until no call into the binding is pending: the
   * worker thread exits after this, and a call that settles after that can
   * crash the whole process (./native-calls.ts).
   */
  override async close(): Promise<void> {
    await super.close();
    if (!(await this.calls.settled(CLOSE_LIMIT_MS))) {
      this.log?.(`node transport: ${this.calls.count} call(s) into the usb package still pending after ${CLOSE_LIMIT_MS} ms ` +
        '(a transfer the device does not answer, with a long timeout or none); closing anyway. On Node before 24.14, ' +
        'a worker thread that exits before they end can crash the process when they do (nodejs/node#55706).');
    }
  }

  /** The binding makes a new object per listing; its handle names the device. */
  protected override deviceKey(device: USBDeviceLike): unknown {
    // read once per object: while a call of the binding is pending on an
    // object, reading any of its properties throws (a detach event during a
    // transfer hands us that very object)
    let handle = this.handles.get(device);
    if (handle === undefined) {
      handle = (device as UsbPackageDevice).handle;
      this.handles.set(device, handle);
    }
    return handle;
  }

  protected override locate(device: USBDeviceLike): DeviceLocation {
    const d = device as UsbPackageDevice;
    return {
      busNumber: this.busNumber(d.bus),
      portNumbers: [...(d.ports ?? [])],
      deviceAddress: d.address,
      speed: SPEEDS[d.speed ?? ''] ?? Speed.UNKNOWN,
    };
  }

  protected override wrap(device: USBDeviceLike, location: DeviceLocation, gone: Promise<void>): WebUsbDevice {
    let markLost!: () => void;
    const lost = new Promise<void>((r) => (markLost = r));
    const sysfs = this.onSysfs ? new SysfsDevice(location.busNumber, location.portNumbers, location.deviceAddress) : undefined;
    const binding = new BindingDevice(device as UsbPackageDevice, { sysfs, onLost: markLost, calls: this.calls });
    return new NodeUsbDevice(binding, location, Promise.race([gone, lost]), sysfs, this.log);
  }

  /** Linux names buses by number ("001"); elsewhere the binding's names get numbers of their own. */
  private busNumber(bus: string): number {
    if (/^\d+$/.test(bus)) return Number(bus);
    let n = this.busNumbers.get(bus);
    if (n === undefined) {
      n = 100 + this.busNumbers.size;
      this.busNumbers.set(bus, n);
    }
    return n;
  }
}

/** What a machine without USB offers: nothing, and no events. */
const NO_USB: USBLike = { getDevices: async () => [], addEventListener() {}, removeEventListener() {} };

/** The node transport over the installed `usb` package. `log`: where to say why a transfer failed oddly. */
export async function createNodeTransport(options: { log?: (message: string) => void } = {}): Promise<NodeTransport> {
  // the package first: asking for real devices without it says what to install, even on a machine without USB
  let mod: Partial<UsbNativeModule> & { default?: Partial<UsbNativeModule> };
  try {
    // its main module makes the device objects WebUSB-shaped (it adds the
    // WebUSB methods to their class); the native exports are what we call
    await import('usb');
    mod = (await import('usb/index.js')) as unknown as typeof mod;
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && /'usb(\/index\.js)?'/.test((e as Error).message);
    throw new Error(missing
      ? "real devices need the npm package 'usb' (3.x), which is not installed: npm install usb (or use simulated devices)"
      : `the npm package 'usb' did not load: ${(e as Error).message.split('\n')[0]}`);
  }
  // Linux without USB (a container, a VM without a controller): nothing to list or watch
  if (process.platform === 'linux' && !sysfsAvailable()) return new NodeTransport(NO_USB, options);
  const native = typeof mod.nativeGetDevices === 'function' ? mod : mod.default;
  if (typeof native?.nativeGetDevices !== 'function' || typeof native.Emitter !== 'function') {
    throw new Error("the installed 'usb' package has no native WebUSB calls (nativeGetDevices, Emitter): the node transport needs usb 3.x");
  }
  const calls = new NativeCalls();
  return new NodeTransport(new NativeUsb(native as UsbNativeModule, calls, options), { ...options, calls });
}
