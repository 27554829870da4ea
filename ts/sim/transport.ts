/**
 * The `sim` transport: simulated devices on a {@link SimBus}, reached
 * directly (no WebUSB in between). The same device models are available
 * through `navigator.usb`'s shape for the webusb transport.
 *
 * ```js
 * import { SimTransport } from 'libusb-wasm/transports/sim';
 * import { LoopbackDevice } from 'libusb-wasm/sim';
 * const transport = new SimTransport(undefined, { devices: [new LoopbackDevice()] });
 * console.log((await transport.getDevices()).map((d) => d.location));
 * ```
 * @module libusb-wasm/transports/sim
 */
import { ErrorCode, StandardRequest, TransferStatus, TransferType } from '../usb/constants.js';
import { SimBus, type SimAttachment } from './bus.js';
import type { SimDevice } from './device.js';
import {
  TransportError, type DeviceLocation, type TransportHotplugEvent, type ResetOutcome, type Transport,
  type TransportDevice, type TransferRequest, type TransferCompletion,
} from '../transports/transport.js';

/** Options for {@link SimTransport}. */
export interface SimTransportOptions {
  /** Devices to plug in at start, into ports 1, 2, ... */
  devices?: SimDevice[];
}

export class SimTransport implements Transport {
  readonly name = 'sim';
  /** The bus its devices are on. */
  readonly bus: SimBus;
  private readonly adapters = new WeakMap<SimAttachment, SimTransportDevice>();

  constructor(bus: SimBus = new SimBus(), options: SimTransportOptions = {}) {
    this.bus = bus;
    for (const d of options.devices ?? []) bus.plug(d);
  }

  async getDevices(): Promise<TransportDevice[]> {
    return this.bus.attachments().map((a) => this.adapter(a));
  }

  watch(listener: (event: TransportHotplugEvent) => void): () => void {
    return this.bus.subscribe((type, attachment) => listener({ type, device: this.adapter(attachment) }));
  }

  private adapter(attachment: SimAttachment): SimTransportDevice {
    let a = this.adapters.get(attachment);
    if (!a) {
      a = new SimTransportDevice(this.bus, attachment);
      this.adapters.set(attachment, a);
    }
    return a;
  }
}

/** One plugged-in simulated device, as the transport host sees it. */
class SimTransportDevice implements TransportDevice {
  readonly location: DeviceLocation;
  private readonly bus: SimBus;
  private readonly attachment: SimAttachment;
  private readonly device: SimDevice;
  private readonly claimed = new Set<number>();
  /** Drivers detached by the program, so attach binds the same one again. */
  private readonly detached = new Map<number, string>();

  constructor(bus: SimBus, attachment: SimAttachment) {
    this.bus = bus;
    this.attachment = attachment;
    this.device = attachment.device;
    this.location = {
      busNumber: attachment.busNumber,
      portNumbers: [attachment.port],
      deviceAddress: attachment.address,
      speed: attachment.device.speed,
    };
  }

  private get present(): boolean {
    return this.bus.attachmentOf(this.device) === this.attachment;
  }

  private check(): void {
    if (!this.present) throw new TransportError(ErrorCode.NO_DEVICE, 'device disconnected');
  }

  /** A standard request on ep0, mapping a STALL to `stallCode`. */
  private async standard(bmRequestType: number, bRequest: number, wValue: number, wIndex: number,
    stallCode: number): Promise<void> {
    this.check();
    const r = await this.device.control({ bmRequestType, bRequest, wValue, wIndex, wLength: 0 });
    if (r.status === TransferStatus.NO_DEVICE) throw new TransportError(ErrorCode.NO_DEVICE);
    if (r.status !== TransferStatus.COMPLETED) throw new TransportError(stallCode as never);
  }

  async open(): Promise<void> {
    this.check();
  }

  async close(): Promise<void> {
    this.claimed.clear();
  }

  getConfiguration(): number {
    return this.device.configuration;
  }

  async setConfiguration(value: number): Promise<void> {
    await this.standard(0x00, StandardRequest.SET_CONFIGURATION, value, 0, ErrorCode.NOT_FOUND);
  }

  async claimInterface(iface: number): Promise<void> {
    this.check();
    if (this.device.kernelDrivers.has(iface)) {
      throw new TransportError(ErrorCode.BUSY, `interface ${iface} is bound to ${this.device.kernelDrivers.get(iface)}`);
    }
    this.claimed.add(iface);
  }

  async releaseInterface(iface: number): Promise<void> {
    this.check();
    this.claimed.delete(iface);
  }

  async setAlternateSetting(iface: number, alternate: number): Promise<void> {
    await this.standard(0x01, StandardRequest.SET_INTERFACE, alternate, iface, ErrorCode.NOT_FOUND);
  }

  async clearHalt(endpoint: number): Promise<void> {
    await this.standard(0x02, StandardRequest.CLEAR_FEATURE, 0, endpoint, ErrorCode.NOT_FOUND);
  }

  async reset(): Promise<ResetOutcome> {
    this.check();
    const outcome = this.device.busReset();
    if (outcome === 'reenumerated') this.bus.replug(this.device);
    return outcome;
  }

  async kernelDriverActive(iface: number): Promise<boolean> {
    this.check();
    return this.device.kernelDrivers.has(iface);
  }

  async detachKernelDriver(iface: number): Promise<void> {
    this.check();
    const driver = this.device.kernelDrivers.get(iface);
    if (driver === undefined) throw new TransportError(ErrorCode.NOT_FOUND, 'no kernel driver');
    this.device.kernelDrivers.delete(iface);
    this.detached.set(iface, driver);
  }

  async attachKernelDriver(iface: number): Promise<void> {
    this.check();
    if (this.claimed.has(iface)) throw new TransportError(ErrorCode.BUSY, 'interface is claimed');
    if (this.device.kernelDrivers.has(iface)) throw new TransportError(ErrorCode.BUSY, 'driver already bound');
    this.device.kernelDrivers.set(iface, this.detached.get(iface) ?? 'sim-driver');
    this.detached.delete(iface);
  }

  transfer(request: TransferRequest): TransferCompletion | Promise<TransferCompletion> {
    if (!this.present) return { status: TransferStatus.NO_DEVICE };
    if (request.type === TransferType.CONTROL) return this.device.control(request.setup!, request.data);
    return this.device.transfer(request);
  }

  cancel(request: TransferRequest): boolean {
    // A transfer the device no longer waits on has completed, and its promise
    // is settling with that outcome: libusb must get it (with its data), not
    // a CANCELLED that would drop the data. Either way it settles promptly.
    this.device.cancel(request);
    return true;
  }
}
