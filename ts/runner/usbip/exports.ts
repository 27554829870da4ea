/**
 * Which devices a USB/IP server exports: the devices of a transport that
 * match its WebUSB-style filters (all of them without filters), with what
 * OP_REP_DEVLIST says of each. Their descriptors are read once, when they
 * arrive (ts/host/enumerate.ts), and they come and go with the transport's
 * hotplug events.
 * @module
 */
import { TRANSPORT_CALL_MS } from '../../host/deadline.js';
import { enumerateDevice } from '../../host/enumerate.js';
import { parseConfiguration, type ParsedConfiguration } from '../../usb/config-parse.js';
import { checkFilter, deviceFacts, matchesFilter, type DeviceFacts, type DeviceFilter } from '../../usb/filters.js';
import type { RawDescriptors, Transport, TransportDevice, TransportHotplugEvent } from '../../transports/transport.js';
import { devidOf, type UsbipDeviceInfo } from '../../transports/usbip/protocol.js';
import { usbipSpeedOf } from '../../transports/usbip/speed.js';

/** One exported device. */
export interface ExportedDevice {
  /** The busid clients import it by, e.g. "1-2". */
  readonly busid: string;
  /** (busnum << 16) | devnum: commands for it carry this. */
  readonly devid: number;
  readonly device: TransportDevice;
  readonly descriptors: RawDescriptors;
  /** What its descriptors say of it (IDs, classes), decoded once. */
  readonly facts: DeviceFacts;
  /** Configurations, parsed (by index). */
  readonly configurations: ParsedConfiguration[];
  /** Who imported it ("address:port"), while someone has. */
  importedBy?: string;
}

/** A line of the server's log. */
export type ServerLog = (message: string) => void;

export class ExportedDevices {
  private readonly byBusid = new Map<string, ExportedDevice>();
  private readonly byDevice = new Map<TransportDevice, ExportedDevice | 'pending' | 'gone'>();
  private readonly unwatch: () => void;
  /** Resolves when the devices present at start are listed. */
  readonly ready: Promise<void>;
  /** Called when an exported device leaves (an import of it must end). */
  onLeave?: (device: ExportedDevice) => void;

  constructor(transport: Transport, private readonly filters: DeviceFilter[], private readonly log: ServerLog) {
    for (const f of filters) checkFilter(f);
    this.unwatch = transport.watch((e) => this.onHotplug(e));
    this.ready = transport.getDevices().then(
      (list) => Promise.all(list.map((d) => this.add(d))).then(() => {}),
      (e) => this.log(`listing devices failed: ${(e as Error)?.message ?? e}`),
    );
  }

  /** The exported devices, in busid order. */
  list(): ExportedDevice[] {
    return [...this.byBusid.values()].sort((a, b) => a.busid.localeCompare(b.busid, 'en', { numeric: true }));
  }

  get(busid: string): ExportedDevice | undefined {
    return this.byBusid.get(busid);
  }

  /** What OP_REP_DEVLIST / OP_REP_IMPORT say of a device now (its configuration may have changed). */
  info(e: ExportedDevice): UsbipDeviceInfo {
    const d = e.descriptors.device;
    const f = e.facts;
    const value = e.device.getConfiguration();
    const active = e.configurations.find((c) => c.value === value);
    const interfaces = (active?.alternates ?? []).filter((a) => a.alternate === 0).map((a) => ({
      interfaceClass: a.interfaceClass, interfaceSubclass: a.interfaceSubclass, interfaceProtocol: a.interfaceProtocol,
    }));
    const loc = e.device.location;
    return {
      path: `/sys/devices/libusb-wasm/usb${loc.busNumber}/${e.busid}`,
      busid: e.busid,
      busnum: loc.busNumber,
      devnum: loc.deviceAddress,
      speed: usbipSpeedOf(loc.speed),
      vendorId: f.vendorId,
      productId: f.productId,
      bcdDevice: d[12] | (d[13] << 8),
      deviceClass: f.deviceClass,
      deviceSubclass: f.deviceSubclass,
      deviceProtocol: f.deviceProtocol,
      configurationValue: value,
      numConfigurations: d[17],
      numInterfaces: interfaces.length,
      interfaces,
    };
  }

  close(): void {
    this.unwatch();
  }

  private onHotplug(e: TransportHotplugEvent): void {
    if (e.type === 'connect') void this.ready.then(() => this.add(e.device));
    else this.remove(e.device);
  }

  private async add(device: TransportDevice): Promise<void> {
    if (this.byDevice.has(device)) return;
    this.byDevice.set(device, 'pending');
    const loc = device.location;
    const busid = `${loc.busNumber}-${loc.portNumbers.length ? loc.portNumbers.join('.') : loc.deviceAddress}`;
    let descriptors: RawDescriptors;
    let serialNumber: string | undefined;
    try {
      const enumerated = await enumerateDevice(device, TRANSPORT_CALL_MS);
      descriptors = enumerated.descriptors;
      serialNumber = enumerated.strings.serialNumber;
    } catch (e) {
      this.byDevice.delete(device);
      this.log(`not exporting ${busid}: its descriptors could not be read (${(e as Error)?.message ?? e})`);
      return;
    }
    if (this.byDevice.get(device) !== 'pending') return; // left while we read it
    const facts = deviceFacts(descriptors.device, descriptors.configurations, serialNumber);
    if (this.filters.length && !this.filters.some((f) => matchesFilter(facts, f))) {
      this.byDevice.set(device, 'gone');
      return;
    }
    if (this.byBusid.has(busid)) {
      this.log(`not exporting a second device at ${busid}`);
      return;
    }
    const configurations = descriptors.configurations.map((c) => {
      try {
        return parseConfiguration(c);
      } catch {
        return { value: -1, alternates: [] };
      }
    });
    const exported: ExportedDevice = {
      busid, devid: devidOf(loc.busNumber, loc.deviceAddress), device, descriptors, facts, configurations,
    };
    this.byDevice.set(device, exported);
    this.byBusid.set(busid, exported);
    this.log(`exporting ${busid} (${hex4(facts.vendorId)}:${hex4(facts.productId)})`);
  }

  private remove(device: TransportDevice): void {
    const e = this.byDevice.get(device);
    this.byDevice.delete(device);
    if (!e || typeof e === 'string') return;
    this.byBusid.delete(e.busid);
    this.log(`${e.busid} left`);
    this.onLeave?.(e);
  }
}

function hex4(n: number): string {
  return n.toString(16).padStart(4, '0');
}
