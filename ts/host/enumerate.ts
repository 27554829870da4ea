/**
 * Reading what libusb needs to know about a device before a program opens
 * it: raw device, configuration and BOS descriptors (GET_DESCRIPTOR, as the
 * design asks: never rebuilt from a parsed model) and the three common
 * strings. Every request has a timeout, so a device that never answers
 * cannot stall enumeration.
 * @module
 */
import { DescriptorType, StandardRequest, TransferStatus, TransferType } from '../usb/constants.js';
import { decodeStringDescriptor } from '../usb/string-descriptors.js';
import type { DeviceStrings, RawDescriptors, TransportDevice } from '../transports/transport.js';
import { withDeadline } from './deadline.js';

/** How long one enumeration request may take. */
const REQUEST_TIMEOUT_MS = 2000;

export interface EnumeratedDevice {
  descriptors: RawDescriptors;
  strings: DeviceStrings;
}

class EnumerationError extends Error {}

/**
 * Read descriptors and strings; opens and closes the device when it must.
 * Every call into the transport has a deadline (`callTimeoutMs`).
 */
export async function enumerateDevice(device: TransportDevice, callTimeoutMs: number): Promise<EnumeratedDevice> {
  let opened = false;
  const open = async () => {
    await withDeadline(() => device.open(), callTimeoutMs, 'open()', () => void device.close().catch(() => {}));
    opened = true;
  };
  try {
    let descriptors: RawDescriptors;
    if (device.readDescriptors) {
      descriptors = checkDescriptors(await withDeadline(() => device.readDescriptors!(), callTimeoutMs, 'readDescriptors()'));
    } else {
      await open();
      descriptors = await readDescriptors(device);
    }
    let strings = device.strings;
    if (!strings) {
      if (!opened) await open();
      strings = await readStrings(device, descriptors.device);
    }
    return { descriptors, strings: checkStrings(strings) };
  } finally {
    if (opened) await withDeadline(() => device.close(), callTimeoutMs, 'close()').catch(() => {});
  }
}

/** Raw descriptors a transport handed over, checked for shape (their bytes libusb checks itself). */
function checkDescriptors(d: RawDescriptors): RawDescriptors {
  const bytes = (v: unknown) => v instanceof Uint8Array;
  if (!d || !bytes(d.device) || !Array.isArray(d.configurations) || !d.configurations.every(bytes)
    || (d.bos !== undefined && !bytes(d.bos))) {
    throw new EnumerationError('the transport gave descriptors that are not byte arrays');
  }
  if (d.device.length < 18 || d.device[0] !== 18 || d.device[1] !== DescriptorType.DEVICE) {
    throw new EnumerationError(`invalid device descriptor (${d.device.length} bytes)`);
  }
  return d;
}

function checkStrings(s: DeviceStrings): DeviceStrings {
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  return s && typeof s === 'object' ? { manufacturer: str(s.manufacturer), product: str(s.product), serialNumber: str(s.serialNumber) } : {};
}

/** GET_DESCRIPTOR on endpoint 0. Returns undefined on a stall. */
async function getDescriptor(device: TransportDevice, type: number, index: number, length: number,
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
      try {
        device.cancel?.(request);
      } catch {
        // a transport that cannot cancel it: the answer, if any, is dropped
      }
      reject(new EnumerationError(`GET_DESCRIPTOR(${type}, ${index}) timed out`));
    }, REQUEST_TIMEOUT_MS);
  });
  try {
    const result = await Promise.race([Promise.resolve(device.transfer(request)), timeout]);
    if (!result || typeof result !== 'object') throw new EnumerationError(`GET_DESCRIPTOR(${type}, ${index}): the transport answered ${String(result)}`);
    if (result.status === TransferStatus.STALL) return undefined;
    if (result.status !== TransferStatus.COMPLETED) {
      throw new EnumerationError(`GET_DESCRIPTOR(${type}, ${index}) failed with transfer status ${result.status}`);
    }
    return result.data instanceof Uint8Array ? result.data.slice(0, length) : new Uint8Array(0);
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
