/**
 * Reading what libusb needs to know about a device before a program opens
 * it: raw device, configuration and BOS descriptors (GET_DESCRIPTOR, as the
 * design asks: never rebuilt from a parsed model) and the three common
 * strings. Every request has a timeout, so a device that never answers
 * cannot stall enumeration.
 * @module
 */
import { DescriptorType, StandardRequest, TransferStatus, TransferType } from '../usb/constants.js';
import type { DeviceStrings, RawDescriptors, TransportDevice } from '../transports/transport.js';

/** How long one enumeration request may take. */
const REQUEST_TIMEOUT_MS = 2000;

export interface EnumeratedDevice {
  descriptors: RawDescriptors;
  strings: DeviceStrings;
}

export class EnumerationError extends Error {}

/** Read descriptors and strings; opens and closes the device when it must. */
export async function enumerateDevice(device: TransportDevice): Promise<EnumeratedDevice> {
  let opened = false;
  try {
    let descriptors: RawDescriptors;
    if (device.readDescriptors) {
      descriptors = await device.readDescriptors();
    } else {
      await device.open();
      opened = true;
      descriptors = await readDescriptors(device);
    }
    let strings = device.strings;
    if (!strings) {
      if (!opened) {
        await device.open();
        opened = true;
      }
      strings = await readStrings(device, descriptors.device);
    }
    return { descriptors, strings };
  } finally {
    if (opened) await device.close().catch(() => {});
  }
}

/** GET_DESCRIPTOR on endpoint 0. Returns undefined on a stall. */
export async function getDescriptor(device: TransportDevice, type: number, index: number, length: number,
  langId = 0): Promise<Uint8Array | undefined> {
  const request = {
    type: TransferType.CONTROL,
    endpoint: 0x80,
    setup: { bmRequestType: 0x80, bRequest: StandardRequest.GET_DESCRIPTOR, wValue: (type << 8) | index, wIndex: langId, wLength: length },
    length,
    zeroLengthPacket: false,
    timeout: REQUEST_TIMEOUT_MS,
  } as const;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      device.cancel?.(request);
      reject(new EnumerationError(`GET_DESCRIPTOR(${type}, ${index}) timed out`));
    }, REQUEST_TIMEOUT_MS);
  });
  try {
    const result = await Promise.race([Promise.resolve(device.transfer(request)), timeout]);
    if (result.status === TransferStatus.STALL) return undefined;
    if (result.status !== TransferStatus.COMPLETED) {
      throw new EnumerationError(`GET_DESCRIPTOR(${type}, ${index}) failed with transfer status ${result.status}`);
    }
    return result.data ? result.data.slice() : new Uint8Array(0);
  } finally {
    clearTimeout(timer);
  }
}

async function readDescriptors(device: TransportDevice): Promise<RawDescriptors> {
  const dev = await getDescriptor(device, DescriptorType.DEVICE, 0, 18);
  if (!dev || dev.length < 18 || dev[0] !== 18 || dev[1] !== DescriptorType.DEVICE) {
    throw new EnumerationError(`invalid device descriptor (${dev ? dev.length : 0} bytes)`);
  }
  const configurations: Uint8Array[] = [];
  for (let i = 0; i < dev[17]; i++) {
    const head = await getDescriptor(device, DescriptorType.CONFIG, i, 9);
    if (!head || head.length < 9) throw new EnumerationError(`configuration ${i}: short header`);
    const total = head[2] | (head[3] << 8);
    const full = await getDescriptor(device, DescriptorType.CONFIG, i, total);
    if (!full || full.length < 9) throw new EnumerationError(`configuration ${i}: unreadable`);
    configurations.push(full);
  }
  let bos: Uint8Array | undefined;
  const bcdUSB = dev[2] | (dev[3] << 8);
  if (bcdUSB >= 0x0201) {
    const head = await getDescriptor(device, DescriptorType.BOS, 0, 5).catch(() => undefined);
    if (head && head.length >= 5) {
      const total = head[2] | (head[3] << 8);
      bos = await getDescriptor(device, DescriptorType.BOS, 0, total).catch(() => undefined);
    }
  }
  return { device: dev, configurations, bos };
}

async function readStrings(device: TransportDevice, dev: Uint8Array): Promise<DeviceStrings> {
  const langs = await getDescriptor(device, DescriptorType.STRING, 0, 255).catch(() => undefined);
  if (!langs || langs.length < 4) return {};
  const langId = langs[2] | (langs[3] << 8);
  const read = async (index: number): Promise<string | undefined> => {
    if (!index) return undefined;
    const d = await getDescriptor(device, DescriptorType.STRING, index, 255, langId).catch(() => undefined);
    return d ? decodeStringDescriptor(d) : undefined;
  };
  return { manufacturer: await read(dev[14]), product: await read(dev[15]), serialNumber: await read(dev[16]) };
}

/** UTF-16LE string descriptor to a JS string. */
export function decodeStringDescriptor(d: Uint8Array): string {
  const n = Math.min(d[0] ?? 0, d.length);
  let s = '';
  for (let i = 2; i + 1 < n; i += 2) s += String.fromCharCode(d[i] | (d[i + 1] << 8));
  return s;
}
