/**
 * Remote control of simulated devices: plug, unplug, inspect. It lives in
 * the transport host's worker next to the devices and is reached from the
 * caller's thread through comlink (control plane only; the data plane never
 * goes through here).
 * @module
 */
import type { SimBus } from './bus.js';
import type { SimDevice } from './device.js';
import { createDevice, type ModelSpec } from './models/index.js';

/** One simulated device known to the host. */
export interface SimDeviceInfo {
  /** Its index in {@link SimControl.list} (for plug, unplug, inspect). */
  index: number;
  /** VID:PID and product name. */
  label: string;
  /** Whether it is plugged in now. */
  plugged: boolean;
  /** Its bus, while plugged. */
  busNumber?: number;
  /** Its port, while plugged. */
  port?: number;
  /** Its address, while plugged. */
  address?: number;
}

/** Remote control of the host's simulated devices (see the module's description). */
export class SimControl {
  private readonly bus: SimBus;
  private readonly devices: SimDevice[];
  private host?: { waitingContexts(): number };

  constructor(bus: SimBus, devices: SimDevice[]) {
    this.bus = bus;
    this.devices = devices;
  }

  /** The transport host serving the devices (for waitingContexts). */
  setHost(host: { waitingContexts(): number }): void {
    this.host = host;
  }

  /** Every device the host has had, plugged or not. */
  list(): SimDeviceInfo[] {
    return this.devices.map((d, index) => {
      const a = this.bus.attachmentOf(d);
      return { index, label: d.label, plugged: !!a, busNumber: a?.busNumber, port: a?.port, address: a?.address };
    });
  }

  /** Plug in a new device (by spec) or a known one (by index). Returns its index. */
  plug(device: ModelSpec | string | number, port?: number): number {
    let index: number;
    if (typeof device === 'number') {
      index = device;
      if (!this.devices[index]) throw new Error(`no simulated device ${index}`);
    } else {
      index = this.devices.push(createDevice(device)) - 1;
    }
    this.bus.plug(this.devices[index], port);
    return index;
  }

  /** Unplug a device; its transfers end with NO_DEVICE. */
  unplug(index: number): void {
    const d = this.devices[index];
    if (!d) throw new Error(`no simulated device ${index}`);
    this.bus.unplug(d);
  }

  /** The model's own snapshot (see SimDevice.inspect). */
  inspect(index: number): unknown {
    const d = this.devices[index];
    if (!d) throw new Error(`no simulated device ${index}`);
    return d.inspect();
  }

  /** Libusb contexts with a thread blocked in event handling, over every program (0 before one attaches). */
  waitingContexts(): number {
    return this.host?.waitingContexts() ?? 0;
  }
}
