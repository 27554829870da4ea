/**
 * The `usbip` transport: the devices a USB/IP server exports (Linux's
 * usbipd, usbip-win, `libusb-wasm usbip-serve`) appear to libusb programs
 * like local ones. The device list comes from OP_REQ_DEVLIST, asked again
 * every `pollIntervalMs` to notice arrivals and departures; a device is
 * imported when the host opens it (see ./device.ts).
 *
 * Connections are injected (./stream.ts): TCP in Node (./tcp.ts), a
 * WebSocket to the package's bridge in browsers (./websocket.ts).
 * @module
 */
import type { Transport, TransportDevice, TransportHotplugEvent } from '../transport.js';
import { OPERATION_TIMEOUT_MS, listExportedDevices } from './client-connection.js';
import { UsbipDevice } from './device.js';
import type { UsbipDeviceInfo } from './protocol.js';
import { describeAddress, parseServerAddress, type UsbipConnector, type UsbipServerAddress } from './stream.js';

export { parseServerAddress, describeAddress } from './stream.js';
export type { UsbipConnector, UsbipServerAddress, ByteStream, StreamHandlers } from './stream.js';

/** Options of {@link UsbipTransport}. */
export interface UsbipTransportOptions {
  /** The server: `host[:port]` (TCP, port 3240 by default) or a bridge's `ws://` URL. */
  server: string;
  /** Opens connections (TCP in Node, WebSocket in browsers). */
  connect: UsbipConnector;
  /** How often the device list is asked for again, in ms (default 1000). */
  pollIntervalMs?: number;
  /** How long the server may take to answer a request (device list, import), in ms (default 10000). */
  timeoutMs?: number;
  /** Diagnostics (default: console.warn). */
  log?: (message: string) => void;
}

/** A device whose import was refused before it was ever opened is offered again after this long. */
const REFUSED_RETRY_MS = 5000;

export class UsbipTransport implements Transport {
  readonly name = 'usbip';
  readonly address: UsbipServerAddress;
  private readonly connect: UsbipConnector;
  private readonly pollIntervalMs: number;
  private readonly timeoutMs: number;
  private readonly log: (message: string) => void;
  /** Devices offered to the host, by busid. */
  private readonly devices = new Map<string, UsbipDevice>();
  /** Busids not to offer again before a time (their import was refused). */
  private readonly holdOff = new Map<string, number>();
  private readonly listeners = new Set<(e: TransportHotplugEvent) => void>();
  private polling?: Promise<void>;
  private timer?: ReturnType<typeof setTimeout>;
  private reachable: boolean | undefined;
  private closed = false;

  constructor(options: UsbipTransportOptions) {
    this.address = parseServerAddress(options.server);
    this.connect = options.connect;
    this.pollIntervalMs = options.pollIntervalMs ?? 1000;
    this.timeoutMs = options.timeoutMs ?? OPERATION_TIMEOUT_MS;
    this.log = options.log ?? ((m) => console.warn(m));
  }

  async getDevices(): Promise<TransportDevice[]> {
    await this.poll();
    return [...this.devices.values()];
  }

  watch(listener: (event: TransportHotplugEvent) => void): () => void {
    this.listeners.add(listener);
    this.schedule();
    return () => this.listeners.delete(listener);
  }

  /** Look at the server's list now (the host's rescan()). */
  async rescan(): Promise<void> {
    await this.poll();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.polling?.catch(() => {});
    for (const d of this.devices.values()) d.markGone();
    this.devices.clear();
  }

  /** One OP_REQ_DEVLIST, and the arrivals and departures it shows (one poll at a time). */
  private poll(): Promise<void> {
    this.polling ??= this.pollOnce().finally(() => (this.polling = undefined));
    return this.polling;
  }

  private async pollOnce(): Promise<void> {
    if (this.closed) return;
    let list: UsbipDeviceInfo[];
    try {
      list = await listExportedDevices(this.connect, this.address, this.timeoutMs);
    } catch (e) {
      if (this.reachable !== false) this.log(`${(e as Error).message}; trying again every ${this.pollIntervalMs / 1000} s`);
      this.reachable = false;
      return;
    }
    if (this.reachable === false) this.log(`usbip: ${describeAddress(this.address)} answers again`);
    this.reachable = true;
    if (this.closed) return;
    const listed = new Map(list.map((d) => [d.busid, d]));
    for (const [busid, device] of this.devices) {
      const now = listed.get(busid);
      // usbipd lists only free devices: one this client holds (or just let go) has not left
      if (device.heldHere) continue;
      if (!now || !sameDevice(now, device.info)) this.depart(device);
    }
    for (const info of list) {
      if (this.devices.has(info.busid) || (this.holdOff.get(info.busid) ?? 0) > Date.now()) continue;
      this.holdOff.delete(info.busid);
      const device = new UsbipDevice(info, {
        connect: this.connect, address: this.address, log: this.log, timeoutMs: this.timeoutMs,
        lost: (d, reason) => {
          this.log(`${reason.message} (${d.label}): the device has left`);
          this.depart(d);
        },
        refused: (d) => {
          // offered again later as a new device: the host forgot this one when it could not open it
          this.holdOff.set(d.info.busid, Date.now() + REFUSED_RETRY_MS);
          if (this.devices.get(d.info.busid) === d) this.devices.delete(d.info.busid);
        },
      });
      this.devices.set(info.busid, device);
      this.emit({ type: 'connect', device });
    }
  }

  private depart(device: UsbipDevice): void {
    if (this.devices.get(device.info.busid) !== device) return;
    this.devices.delete(device.info.busid);
    device.markGone();
    this.emit({ type: 'disconnect', device });
  }

  private emit(event: TransportHotplugEvent): void {
    for (const l of this.listeners) l(event);
  }

  private schedule(): void {
    if (this.timer || this.closed) return;
    this.timer = setTimeout(async () => {
      await this.poll();
      this.timer = undefined;
      this.schedule();
    }, this.pollIntervalMs);
  }
}

/** The same device, not another one plugged in where it was. */
function sameDevice(a: UsbipDeviceInfo, b: UsbipDeviceInfo): boolean {
  return a.devnum === b.devnum && a.busnum === b.busnum && a.vendorId === b.vendorId && a.productId === b.productId;
}
