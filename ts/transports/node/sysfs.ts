/**
 * What Linux's sysfs says about a USB device, for what the `usb` package
 * does not tell: which kernel driver holds an interface (libusb's
 * kernel_driver_active), the active configuration without I/O, and whether
 * the device is still there. Plain file reads, no I/O to the device.
 * @module
 */
import fs from 'node:fs';
import path from 'node:path';

const ROOT = '/sys/bus/usb/devices';

/** True where sysfs has USB devices (Linux). */
export function sysfsAvailable(): boolean {
  return process.platform === 'linux' && fs.existsSync(ROOT);
}

export class SysfsDevice {
  /** The kernel's name for the device, e.g. "1-2.4". */
  readonly name: string;
  private readonly dir: string;

  constructor(busNumber: number, portNumbers: readonly number[], readonly address: number) {
    this.name = portNumbers.length ? `${busNumber}-${portNumbers.join('.')}` : `usb${busNumber}`;
    this.dir = path.join(ROOT, this.name);
  }

  private read(file: string): string | undefined {
    try {
      return fs.readFileSync(path.join(this.dir, file), 'utf8').trim();
    } catch {
      return undefined;
    }
  }

  /** The device is still at its place, with its address (not a newcomer on the same port). */
  present(): boolean {
    return Number(this.read('devnum')) === this.address;
  }

  /** bConfigurationValue; 0 when unconfigured; undefined when sysfs does not say. */
  configurationValue(): number | undefined {
    const v = this.read('bConfigurationValue');
    if (v === undefined) return undefined;
    return v === '' ? 0 : Number(v);
  }

  /** The driver bound to an interface of the active configuration ("usbhid", "usbfs", ...), if any. */
  interfaceDriver(iface: number): string | undefined {
    const config = this.configurationValue();
    if (!config) return undefined;
    try {
      return path.basename(fs.readlinkSync(path.join(this.dir, `${this.name}:${config}.${iface}`, 'driver')));
    } catch {
      return undefined;
    }
  }

  /**
   * The raw device descriptor and every configuration descriptor, as the
   * kernel read them from the device at enumeration (what libusb's Linux
   * backend uses too). Readable without access to the device itself.
   */
  descriptors(): { device: Uint8Array; configurations: Uint8Array[] } | undefined {
    let raw: Uint8Array;
    try {
      raw = new Uint8Array(fs.readFileSync(path.join(this.dir, 'descriptors')));
    } catch {
      return undefined;
    }
    if (raw.length < 18 || raw[0] !== 18 || raw[1] !== 1) return undefined;
    const configurations: Uint8Array[] = [];
    for (let off = 18; off + 9 <= raw.length;) {
      const total = raw[off + 2] | (raw[off + 3] << 8);
      if (raw[off + 1] !== 2 || total < 9 || off + total > raw.length) return undefined;
      configurations.push(raw.slice(off, off + total));
      off += total;
    }
    if (configurations.length !== raw[17]) return undefined;
    return { device: raw.slice(0, 18), configurations };
  }

  /** Whether the active configuration has this interface. */
  hasInterface(iface: number): boolean {
    const config = this.configurationValue();
    return !!config && fs.existsSync(path.join(this.dir, `${this.name}:${config}.${iface}`));
  }
}
