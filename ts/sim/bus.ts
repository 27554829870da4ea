/**
 * A simulated USB bus: devices are plugged into numbered ports and get a
 * fresh address each time, as on real hardware. Plugging and unplugging
 * raise events that the sim transport turns into hotplug events.
 * @module
 */
import type { SimDevice } from './device.js';

/** One connection of a device to the bus; a re-plug is a new attachment. */
export interface SimAttachment {
  /** The device. */
  readonly device: SimDevice;
  /** The bus it is on. */
  readonly busNumber: number;
  /** The root-hub port it is plugged into. */
  readonly port: number;
  /** The address it was given for this attachment. */
  readonly address: number;
}

/** Hears of every plug and unplug on a {@link SimBus}. */
export type SimBusListener = (type: 'connect' | 'disconnect', attachment: SimAttachment) => void;

/** A simulated bus with numbered ports (see the module's description). */
export class SimBus {
  /** libusb's bus number for it. */
  readonly busNumber: number;
  private readonly attached = new Map<SimDevice, SimAttachment>();
  private readonly listeners = new Set<SimBusListener>();
  private nextAddress = 1;

  constructor(busNumber = 1) {
    this.busNumber = busNumber;
  }

  /** Devices plugged in now, in port order. */
  attachments(): SimAttachment[] {
    return [...this.attached.values()].sort((a, b) => a.port - b.port);
  }

  /** The attachment of a plugged device. */
  attachmentOf(device: SimDevice): SimAttachment | undefined {
    return this.attached.get(device);
  }

  /** Plug a device in (into the first free port unless one is given). */
  plug(device: SimDevice, port?: number): SimAttachment {
    if (this.attached.has(device)) throw new Error(`${device.label} is already plugged in`);
    const used = new Set([...this.attached.values()].map((a) => a.port));
    let p = port ?? 1;
    if (port !== undefined && used.has(port)) throw new Error(`port ${port} is in use`);
    while (used.has(p)) p++;
    if (p < 1 || p > 127) throw new Error(`port ${p} is out of range`);
    const attachment: SimAttachment = { device, busNumber: this.busNumber, port: p, address: this.allocateAddress() };
    this.attached.set(device, attachment);
    device.unplugHook = () => this.unplug(device);
    device.connect();
    this.emit('connect', attachment);
    return attachment;
  }

  /** Unplug a device; its waiting transfers end with NO_DEVICE. */
  unplug(device: SimDevice): void {
    const attachment = this.attached.get(device);
    if (!attachment) return;
    this.attached.delete(device);
    device.unplugHook = undefined;
    device.disconnect();
    this.emit('disconnect', attachment);
  }

  /** Unplug and plug again at the same port (re-enumeration). */
  replug(device: SimDevice): SimAttachment | undefined {
    const attachment = this.attached.get(device);
    if (!attachment) return undefined;
    this.unplug(device);
    return this.plug(device, attachment.port);
  }

  /** Hear of plugs and unplugs; returns the function that stops it. */
  subscribe(listener: SimBusListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(type: 'connect' | 'disconnect', attachment: SimAttachment): void {
    for (const l of [...this.listeners]) l(type, attachment);
  }

  private allocateAddress(): number {
    const used = new Set([...this.attached.values()].map((a) => a.address));
    for (let i = 0; i < 127; i++) {
      const a = this.nextAddress;
      this.nextAddress = (this.nextAddress % 127) + 1;
      if (!used.has(a)) return a;
    }
    throw new Error('no free USB address on the bus');
  }
}
