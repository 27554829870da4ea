/**
 * Which devices one program sees: the devices its policy grants (all of
 * them without a policy), the device list its contexts read, and the
 * arrivals and departures they hear of. A device the program cannot see
 * answers NOT_FOUND; one it saw and that is gone (unplugged, revoked)
 * answers NO_DEVICE.
 * @module
 */
import { ErrorCode } from '../../usb/constants.js';
import type { DeviceFilter } from '../../usb/filters.js';
import { TransportError } from '../../transports/transport.js';
import type { SharedDevice } from '../device.js';
import { deviceListSize, hotplugEventSize, writeDeviceList, writeHotplugEvent } from '../device-record.js';
import { LW_HOTPLUG_ARRIVED, LW_HOTPLUG_LEFT, LwCtxShared } from '../protocol.gen.js';
import type { ProgramChannel } from './channel.js';

/** What a request answers: a libusb status and, for some, a value. */
export interface Answer {
  status: number;
  actual?: number;
}

export class Visibility {
  /** Devices this program has been shown (by a list or an arrival) and not told of their departure. */
  private readonly shown = new Set<number>();
  /** Devices it was ever shown: naming one that is gone gives NO_DEVICE, not NOT_FOUND. */
  private readonly everShown = new Set<number>();

  constructor(private readonly channel: ProgramChannel) {}

  /** Whether the program may see the device. */
  sees(dev: SharedDevice): boolean {
    const policy = this.channel.policy;
    return !dev.gone && (!policy || policy.visible(dev.facts));
  }

  /** Whether the program has been told of the device (and not of its departure). */
  isShown(dev: SharedDevice): boolean {
    return this.shown.has(dev.id);
  }

  /**
   * A device by id: NOT_FOUND when this program cannot see it (outside its
   * grants, or no such device), NO_DEVICE when it saw it and it is gone.
   */
  device(id: number): SharedDevice {
    const dev = this.channel.host.devices.get(id);
    if (dev && !dev.gone && this.sees(dev)) return dev;
    if (this.everShown.has(id)) throw new TransportError(ErrorCode.NO_DEVICE, `device ${id} is gone`);
    throw new TransportError(ErrorCode.NOT_FOUND, `no device ${id}`);
  }

  /** A device arrived (plugged in, or newly granted). */
  deviceArrived(dev: SharedDevice): void {
    if (!this.channel.running || !this.sees(dev) || this.shown.has(dev.id)) return;
    this.show(dev);
    this.channel.capture?.annotate(dev.capture, { kind: 'arrived' });
    this.queueHotplug(LW_HOTPLUG_ARRIVED, dev.id, dev.record);
  }

  /** The device left (unplugged, or no longer granted). */
  deviceLeft(dev: SharedDevice): void {
    if (!this.channel.running || !this.shown.delete(dev.id)) return;
    this.channel.capture?.annotate(dev.capture, { kind: 'left' });
    this.queueHotplug(LW_HOTPLUG_LEFT, dev.id);
  }

  /** Grant more devices while the program runs: newly visible ones arrive as hotplug events. */
  grant(filter: DeviceFilter): void {
    const policy = this.channel.policy;
    if (!policy) return; // sees everything already
    policy.grant(filter);
    for (const dev of this.channel.host.devices.present()) this.deviceArrived(dev);
  }

  /** Take a grant back; returns the devices the program can no longer see and had been shown. */
  revoke(filter: DeviceFilter): SharedDevice[] {
    const policy = this.channel.policy;
    if (!policy || !policy.revoke(filter)) return [];
    return this.channel.host.devices.present().filter((dev) => !this.sees(dev) && this.shown.has(dev.id));
  }

  /** LW_OP_LIST_DEVICES: every visible device's record; it supersedes the context's queued events. */
  listDevices(ctxPtr: number, buf: number, len: number): Answer {
    const visible = this.channel.host.devices.present().filter((d) => this.sees(d));
    const records = visible.map((d) => d.record);
    const needed = deviceListSize(records);
    if (needed > len) return { status: ErrorCode.OVERFLOW, actual: needed };
    for (const d of visible) this.show(d);
    const m = this.channel.mem;
    m.refresh();
    writeDeviceList(m.u8, buf, records);
    const c = this.channel.contexts.get(ctxPtr);
    if (c) {
      c.hotplug.length = 0;
      Atomics.store(m.u32, (ctxPtr + LwCtxShared.hotplug_pending) >> 2, 0);
    }
    return { status: 0, actual: needed };
  }

  /** LW_OP_NEXT_HOTPLUG: the oldest event queued for a context. */
  nextHotplug(ctxPtr: number, buf: number, len: number): Answer {
    const c = this.channel.contexts.get(ctxPtr);
    const m = this.channel.mem;
    const event = c?.hotplug[0];
    if (!c || !event) {
      if (c) Atomics.store(m.u32, (ctxPtr + LwCtxShared.hotplug_pending) >> 2, 0);
      return { status: ErrorCode.NOT_FOUND };
    }
    const needed = hotplugEventSize(event.record);
    if (needed > len) return { status: ErrorCode.OVERFLOW, actual: needed };
    m.refresh();
    writeHotplugEvent(m.u8, buf, event.kind, event.deviceId, event.record);
    c.hotplug.shift();
    Atomics.sub(m.u32, (ctxPtr + LwCtxShared.hotplug_pending) >> 2, 1);
    return { status: 0, actual: needed };
  }

  /** LW_OP_GET_STRING: one of the device's strings, as UTF-8, cut at a character boundary. */
  getString(dev: SharedDevice, which: number, buf: number, len: number): Answer {
    if (which > 2) return { status: ErrorCode.INVALID_PARAM };
    const s = [dev.strings.manufacturer, dev.strings.product, dev.strings.serialNumber][which];
    if (s === undefined) return { status: ErrorCode.NOT_FOUND };
    const bytes = new TextEncoder().encode(s);
    if (len === 0) return { status: 0, actual: bytes.length + 1 };
    let n = Math.min(bytes.length, len - 1);
    while (n > 0 && n < bytes.length && (bytes[n] & 0xc0) === 0x80) n--;
    const m = this.channel.mem;
    m.refresh();
    m.u8.set(bytes.subarray(0, n), buf);
    m.u8[buf + n] = 0;
    return { status: 0, actual: n + 1 };
  }

  private show(dev: SharedDevice): void {
    this.shown.add(dev.id);
    this.everShown.add(dev.id);
  }

  private queueHotplug(kind: number, deviceId: number, record?: Uint8Array): void {
    const m = this.channel.mem;
    m.refresh();
    for (const c of this.channel.contexts.values()) {
      if (!c.discovery) continue;
      c.hotplug.push({ kind, deviceId, record });
      Atomics.add(m.u32, (c.ptr + LwCtxShared.hotplug_pending) >> 2, 1);
      this.channel.wakeContext(c.ptr);
    }
  }
}
