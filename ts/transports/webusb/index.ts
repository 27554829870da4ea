/**
 * The `webusb` transport: devices reached through any object of
 * `navigator.usb`'s shape — Chrome's real `navigator.usb` (in a window or a
 * dedicated worker), the `usb` package's `WebUSB` class in Node, or our
 * simulated devices behind that shape. Devices come and go with the object's
 * `connect` and `disconnect` events.
 *
 * WebUSB does not tell where a device sits, so each device gets bus 1 and an
 * address (also used as its port number) of its own for as long as it stays
 * connected; its speed is reported as unknown.
 *
 * ```js
 * import { WebUsbTransport } from 'libusb-wasm/transports/webusb';
 * const transport = new WebUsbTransport(navigator.usb);   // in Node: the usb package's new WebUSB(...)
 * const devices = await transport.getDevices();            // those the page was granted
 * ```
 * @module libusb-wasm/transports/webusb
 */
import { Speed } from '../../usb/constants.js';
import type { DeviceLocation, TransportHotplugEvent, Transport, TransportDevice } from '../transport.js';
import { WebUsbDevice } from './device.js';
import type { USBConnectionEventLike, USBDeviceLike, USBLike } from './types.js';

/** Options of {@link WebUsbTransport}. */
export interface WebUsbTransportOptions {
  /** Transport name in logs (default "webusb"). */
  name?: string;
  /** Where to say why a transfer failed unexpectedly (default: console.warn). */
  log?: (message: string) => void;
}

interface Known {
  adapter: WebUsbDevice;
  markGone: () => void;
}

export class WebUsbTransport implements Transport {
  readonly name: string;
  /** The navigator.usb-shaped object it works over. */
  protected readonly usb: USBLike;
  /** Diagnostics. */
  protected readonly log?: (message: string) => void;
  /** By {@link deviceKey}. */
  private readonly known = new Map<unknown, Known>();
  private readonly listeners = new Set<(e: TransportHotplugEvent) => void>();
  private nextAddress = 1;
  private readonly onConnect = (e: USBConnectionEventLike) => this.emit('connect', this.adapter(e.device));
  private readonly onDisconnect = (e: USBConnectionEventLike) => this.gone(this.deviceKey(e.device));

  constructor(usb: USBLike, options: WebUsbTransportOptions = {}) {
    this.usb = usb;
    this.name = options.name ?? 'webusb';
    this.log = options.log;
    usb.addEventListener('connect', this.onConnect);
    usb.addEventListener('disconnect', this.onDisconnect);
  }

  async getDevices(): Promise<TransportDevice[]> {
    return (await this.usb.getDevices()).map((d) => this.adapter(d));
  }

  /**
   * Look again at the devices the platform grants. Chrome fires `connect`
   * only for devices plugged in; a device granted later (requestDevice() on
   * the page) or forgotten reaches a running program through this.
   */
  async rescan(): Promise<void> {
    const now = new Map((await this.usb.getDevices()).map((d) => [this.deviceKey(d), d]));
    for (const key of [...this.known.keys()]) if (!now.has(key)) this.gone(key);
    for (const [key, device] of now) if (!this.known.has(key)) this.emit('connect', this.adapter(device));
  }

  watch(listener: (event: TransportHotplugEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.usb.removeEventListener('connect', this.onConnect);
    this.usb.removeEventListener('disconnect', this.onDisconnect);
    await Promise.all([...this.known.values()].map((k) => k.adapter.close()));
  }

  /**
   * What identifies a device across calls: the object itself, as WebUSB
   * promises. Platforms that hand out a new object for the same device each
   * time (the `usb` package) override this.
   */
  protected deviceKey(device: USBDeviceLike): unknown {
    return device;
  }

  /** Where a device sits. Transports that know better override this. */
  protected locate(device: USBDeviceLike): DeviceLocation {
    void device;
    const address = this.nextAddress;
    this.nextAddress = (this.nextAddress % 127) + 1;
    return { busNumber: 1, portNumbers: [address], deviceAddress: address, speed: Speed.UNKNOWN };
  }

  /** Wrap a device. Transports with more to offer (kernel drivers) override this. */
  protected wrap(device: USBDeviceLike, location: DeviceLocation, gone: Promise<void>): WebUsbDevice {
    return new WebUsbDevice(device, { location, gone, log: this.log });
  }

  private adapter(device: USBDeviceLike): WebUsbDevice {
    const key = this.deviceKey(device);
    let k = this.known.get(key);
    if (!k) {
      let markGone!: () => void;
      const gone = new Promise<void>((r) => (markGone = r));
      k = { adapter: this.wrap(device, this.locate(device), gone), markGone };
      this.known.set(key, k);
    }
    return k.adapter;
  }

  /** A device left (disconnect event, or no longer granted). */
  private gone(key: unknown): void {
    const k = this.known.get(key);
    if (!k) return;
    this.known.delete(key);
    k.markGone();
    this.emit('disconnect', k.adapter);
  }

  private emit(type: TransportHotplugEvent['type'], device: WebUsbDevice): void {
    for (const l of [...this.listeners]) l({ type, device });
  }
}
