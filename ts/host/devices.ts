/**
 * The devices a transport host has: the first enumeration, arrivals and
 * departures (hotplug), and the order programs see them in. A device whose
 * descriptors cannot be read — malformed, or a device that does not answer
 * within the deadline — is skipped with a message; it never holds up the
 * others or libusb_init.
 * @module
 */
import type { Transport, TransportDevice, TransportHotplugEvent } from '../transports/transport.js';
import { withDeadline } from './deadline.js';
import { describeError } from '../transports/transport.js';
import { SharedDevice } from './device.js';
import { encodeDeviceRecord } from './device-record.js';
import { enumerateDevice } from './enumerate.js';

/** Who hears of arrivals and departures. */
export interface DeviceListener {
  deviceArrived(device: SharedDevice): void;
  deviceLeft(device: SharedDevice): void;
}

export interface DeviceRegistryOptions {
  /** Deadline of one control-plane call into the transport, in ms. */
  callTimeoutMs: number;
  log: (message: string) => void;
}

export class DeviceRegistry {
  /** Every device present, by id (ids are never reused). */
  private readonly byId = new Map<number, SharedDevice>();
  private readonly byTransportDevice = new Map<TransportDevice, SharedDevice | 'pending' | 'gone'>();
  private nextId = 1;
  private started = false;
  private unwatch?: () => void;
  /** Resolves when the first enumeration is done (it always resolves). */
  ready: Promise<void> = Promise.resolve();

  constructor(
    private readonly transport: Transport,
    private readonly listener: DeviceListener,
    private readonly options: DeviceRegistryOptions,
  ) {}

  /** Start watching and enumerate (once). */
  start(): void {
    if (this.started) return;
    this.started = true;
    try {
      this.unwatch = this.transport.watch((e) => this.onHotplug(e));
    } catch (e) {
      this.options.log(`watching for devices failed: ${describeError(e)}`);
    }
    this.ready = this.initialEnumeration();
  }

  stop(): void {
    this.unwatch?.();
  }

  get(id: number): SharedDevice | undefined {
    return this.byId.get(id);
  }

  /** The devices present, in bus and port order. */
  present(): SharedDevice[] {
    const list = [...this.byId.values()].filter((d) => !d.gone);
    const key = (d: SharedDevice) => {
      const l = d.transportDevice.location;
      return [l.busNumber, l.portNumbers.length, ...l.portNumbers];
    };
    return list.sort((a, b) => {
      const ka = key(a);
      const kb = key(b);
      for (let i = 0; i < Math.max(ka.length, kb.length); i++) {
        if ((ka[i] ?? -1) !== (kb[i] ?? -1)) return (ka[i] ?? -1) - (kb[i] ?? -1);
      }
      return 0;
    });
  }

  private async initialEnumeration(): Promise<void> {
    let list: TransportDevice[] = [];
    try {
      list = await withDeadline(() => this.transport.getDevices(), this.options.callTimeoutMs, 'getDevices()');
      if (!Array.isArray(list)) throw new Error(`getDevices() answered ${describeError(list)}, not a list`);
    } catch (e) {
      this.options.log(`listing devices failed: ${describeError(e)}`);
      list = [];
    }
    await Promise.all(list.map((td) => this.add(td)));
  }

  private onHotplug(event: TransportHotplugEvent): void {
    if (!event || typeof event !== 'object' || !event.device) {
      this.options.log(`the transport reported a malformed hotplug event: ${describeError(event)}`);
      return;
    }
    if (event.type === 'connect') void this.ready.then(() => this.add(event.device));
    else this.remove(event.device);
  }

  private async add(td: TransportDevice): Promise<void> {
    if (this.byTransportDevice.has(td)) return;
    this.byTransportDevice.set(td, 'pending');
    let enumerated;
    try {
      enumerated = await enumerateDevice(td, this.options.callTimeoutMs);
    } catch (e) {
      if (this.byTransportDevice.get(td) === 'pending') this.byTransportDevice.delete(td);
      const where = td?.location ? `bus ${td.location.busNumber} address ${td.location.deviceAddress}` : 'an unknown place';
      this.options.log(`skipping device at ${where}: ${(e as Error)?.message ?? describeError(e)}`);
      return;
    }
    if (this.byTransportDevice.get(td) !== 'pending') { // it left while we read it
      this.byTransportDevice.delete(td);
      return;
    }
    const id = this.nextId++;
    const record = encodeDeviceRecord(id, td.location, enumerated.descriptors);
    const dev = new SharedDevice(id, td, enumerated.descriptors, enumerated.strings, record,
      { callTimeoutMs: this.options.callTimeoutMs, log: this.options.log });
    this.byId.set(id, dev);
    this.byTransportDevice.set(td, dev);
    this.listener.deviceArrived(dev);
  }

  private remove(td: TransportDevice): void {
    const dev = this.byTransportDevice.get(td);
    this.byTransportDevice.set(td, 'gone');
    if (!(dev instanceof SharedDevice)) return;
    this.byTransportDevice.delete(td);
    this.byId.delete(dev.id);
    // every transfer ends before libusb hears of the departure
    dev.disconnected();
    this.listener.deviceLeft(dev);
  }
}
