/**
 * What a replayed device knows, read from a capture: its descriptors (the
 * answers to every GET_DESCRIPTOR it was asked) and, per endpoint, the
 * transfers it was sent in order with the answers it gave. An IN answer
 * also remembers how many commands (control requests, OUT transfers) the
 * device had received before it answered, so a replay does not answer
 * before the device would have known what to say.
 * @module
 */
import { DescriptorType, RequestType, Speed, StandardRequest, type SpeedCode } from '../../usb/constants.js';
import { parseConfiguration } from '../../usb/config-parse.js';
import { decodeStringDescriptor } from '../../usb/string-descriptors.js';
import { isInExchange, type CaptureAnnotation, type UsbCapture, type UsbExchange } from '../../usb/capture/exchanges.js';
import { Errno } from '../../usb/capture/usbmon.js';

/** One transfer of the script: what came, and what the device answered. */
export interface ReplayStep {
  /** The captured transfer. */
  exchange: UsbExchange;
  /** A control request or an OUT transfer: the device was told something. */
  command: boolean;
  /** IN transfers: commands the device had completed before this answer. */
  after: number;
}

/** The key of the control endpoint's queue (other queues are keyed by endpoint address). */
export const CONTROL_QUEUE = -1;

/** A device's part of a capture (see the module's description). */
export interface ReplayScript {
  /** VID:PID and product, for messages. */
  label: string;
  /** The device descriptor. */
  device: Uint8Array;
  /** Every configuration descriptor, by index. */
  configurations: Uint8Array[];
  /** The BOS descriptor, when it was read. */
  bos?: Uint8Array;
  /** Every descriptor answer, by (wValue << 16) | wIndex: the longest one seen. */
  descriptors: Map<number, Uint8Array>;
  /** Descriptors the device stalled (never answered), by the same key: a replay stalls them too. */
  stalledDescriptors: Set<number>;
  /** The transfers, per endpoint ({@link CONTROL_QUEUE} for control), in the order they were submitted. */
  queues: Map<number, ReplayStep[]>;
  /** Interfaces a kernel driver held when the capture began (the program detached it: an annotation says so). */
  kernelDrivers: number[];
  /** The speed the device most likely ran at (usbmon records do not say): libusb's speed code. */
  speed: SpeedCode;
}

/** Which device of a capture to replay. */
export interface ReplaySelection {
  /** Its address (needed when the capture has several devices). */
  address?: number;
  /** Its bus. */
  bus?: number;
  /** Only the transfers of this program (the capture interface's name). */
  program?: string;
}

const isGetDescriptor = (e: UsbExchange) => !!e.setup && e.setup[0] === RequestType.DIR_IN && e.setup[1] === StandardRequest.GET_DESCRIPTOR;
const word = (b: Uint8Array, at: number) => b[at] | (b[at + 1] << 8);
const hex4 = (n: number) => n.toString(16).padStart(4, '0');

/** The script of one device of a capture. Throws a message saying what the capture lacks, and what to do. */
export function buildReplayScript(capture: UsbCapture, select: ReplaySelection = {}): ReplayScript {
  let exchanges = capture.exchanges;
  if (select.program !== undefined) {
    const names = capture.interfaces.map((i) => i.name);
    if (!names.includes(select.program)) throw new Error(`replay: the capture has no program '${select.program}' (it has: ${names.join(', ')})`);
    exchanges = exchanges.filter((e) => capture.interfaces[e.interfaceIndex].name === select.program);
  }
  const { bus, address } = chooseDevice(exchanges, capture.annotations, select);
  const mine = exchanges.filter((e) => e.busNumber === bus && e.deviceAddress === address);

  const descriptors = new Map<number, Uint8Array>();
  const stalledDescriptors = new Set<number>();
  for (const e of mine) {
    if (!isGetDescriptor(e) || !e.completion) continue;
    const key = ((word(e.setup!, 2) << 16) | word(e.setup!, 4)) >>> 0;
    const data = e.completion.data;
    if (e.completion.status === -Errno.EPIPE) stalledDescriptors.add(key);
    if (e.completion.status !== 0 || !e.completion.dataComplete) continue;
    // the longest answer; an empty one too (some devices answer a descriptor they lack with nothing)
    const bytes = data ?? new Uint8Array(0);
    if (!descriptors.has(key) || descriptors.get(key)!.length < bytes.length) descriptors.set(key, bytes);
  }
  const device = descriptors.get((DescriptorType.DEVICE << 24) >>> 0);
  if (!device || device.length < 18) throw new Error(`replay: no device descriptor for bus ${bus} address ${address}`);
  const configurations: Uint8Array[] = [];
  for (let i = 0; i < device[17]; i++) {
    const c = descriptors.get(((DescriptorType.CONFIG << 24) | (i << 16)) >>> 0);
    if (!c || c.length < 9 || c.length < word(c, 2)) {
      throw new Error(`replay: the capture has ${c ? `only ${c.length} bytes` : 'nothing'} of configuration ${i} of bus ${bus} `
        + `address ${address}${c ? ` (wTotalLength ${word(c, 2)})` : ''}: capture the device's enumeration, or raise the snap length`);
    }
    configurations.push(c.subarray(0, word(c, 2)));
  }
  const bos = descriptors.get((DescriptorType.BOS << 24) >>> 0);
  const product = device[15] ? descriptors.get((((DescriptorType.STRING << 8) | device[15]) << 16 | 0x0409) >>> 0) : undefined;
  const name = product ? decodeStringDescriptor(product) : '';
  return {
    label: `${hex4(word(device, 8))}:${hex4(word(device, 10))}${name ? ' ' + name : ''}`,
    device, configurations, bos: bos && bos.length >= word(bos, 2) ? bos : undefined, descriptors, stalledDescriptors,
    queues: queuesOf(mine.filter((e) => !isGetDescriptor(e) && e.submission)),
    kernelDrivers: detachedInterfaces(capture, bus, address), speed: speedOf(device, configurations),
  };
}

/** Interfaces the capture says a kernel driver was detached from (before any was attached back). */
function detachedInterfaces(capture: UsbCapture, bus: number, address: number): number[] {
  const detached = new Set<number>();
  const attached = new Set<number>();
  for (const a of capture.annotations) {
    if (a.busNumber !== bus || a.deviceAddress !== address) continue;
    for (const c of a.comments) {
      const m = /^libusb_(detach|attach)_kernel_driver (\d+)$/.exec(c); // a failed call has ": libusb error N" after it
      if (!m) continue;
      const iface = Number(m[2]);
      if (m[1] === 'attach') attached.add(iface);
      else if (!attached.has(iface)) detached.add(iface);
    }
  }
  return [...detached];
}

/**
 * The speed a device's descriptors imply: a 512-byte endpoint 0 (bMaxPacketSize0 9) is SuperSpeed;
 * else 512-byte bulk endpoints are high speed, 64-byte ones full speed; high speed when nothing says.
 */
function speedOf(device: Uint8Array, configurations: Uint8Array[]): SpeedCode {
  if (word(device, 2) >= 0x0300 && device[7] === 9) return Speed.SUPER;
  for (const raw of configurations) {
    let config;
    try {
      config = parseConfiguration(raw);
    } catch {
      continue;
    }
    for (const e of config.alternates.flatMap((a) => a.endpoints)) {
      if (e.type !== 2) continue;
      return (e.maxPacketSize & 0x7ff) >= 512 ? Speed.HIGH : Speed.FULL;
    }
  }
  return Speed.HIGH;
}

/**
 * The device to replay: the one asked for; else the only one whose device
 * descriptor the capture has; else the only one of those the program used
 * (opened, or sent more than GET_DESCRIPTOR).
 */
function chooseDevice(exchanges: UsbExchange[], annotations: CaptureAnnotation[], select: ReplaySelection): { bus: number; address: number } {
  const found = new Map<string, { bus: number; address: number; id: string }>();
  for (const e of exchanges) {
    const data = e.completion?.data;
    if (!isGetDescriptor(e) || e.setup![3] !== DescriptorType.DEVICE || !data || data.length < 18) continue;
    found.set(`${e.busNumber}.${e.deviceAddress}`, { bus: e.busNumber, address: e.deviceAddress, id: `${hex4(word(data, 8))}:${hex4(word(data, 10))}` });
  }
  const candidates = [...found.values()].filter((d) => (select.address === undefined || d.address === select.address)
    && (select.bus === undefined || d.bus === select.bus));
  const list = [...found.values()].sort((a, b) => a.bus - b.bus || a.address - b.address)
    .map((d) => `bus ${d.bus} address ${d.address} (${d.id})`).join(', ');
  if (candidates.length === 1) return candidates[0];
  const used = new Set([
    ...exchanges.filter((e) => !isGetDescriptor(e)).map((e) => `${e.busNumber}.${e.deviceAddress}`),
    ...annotations.filter((a) => a.comments.includes('libusb_open')).map((a) => `${a.busNumber}.${a.deviceAddress}`),
  ]);
  const usedCandidates = candidates.filter((d) => used.has(`${d.bus}.${d.address}`));
  if (usedCandidates.length === 1) return usedCandidates[0];
  if (!found.size) {
    throw new Error('replay: the capture has no device descriptor (no GET_DESCRIPTOR answer), so the device cannot be rebuilt: '
      + 'record with libusb-wasm (it writes each device\'s descriptors), or start a usbmon capture before plugging the device in');
  }
  if (!candidates.length) throw new Error(`replay: no device matches address=${select.address ?? 'any'} bus=${select.bus ?? 'any'}; the capture has ${list}`);
  throw new Error(`replay: the capture has several devices (${list}); choose one with address=N (and bus=N)`);
}

/** Per-endpoint queues in submission order; each IN answer counts the commands completed before it. */
function queuesOf(exchanges: UsbExchange[]): Map<number, ReplayStep[]> {
  const queues = new Map<number, ReplayStep[]>();
  const steps: ReplayStep[] = [];
  for (const exchange of exchanges) {
    const control = !!exchange.setup;
    const step: ReplayStep = { exchange, command: control || !isInExchange(exchange), after: 0 };
    const key = control ? CONTROL_QUEUE : exchange.endpoint;
    const queue = queues.get(key) ?? [];
    queue.push(step);
    queues.set(key, queue);
    steps.push(step);
  }
  let commands = 0;
  const byCompletion = steps.filter((s) => s.exchange.completion).sort((a, b) => a.exchange.completion!.index - b.exchange.completion!.index);
  for (const s of byCompletion) {
    if (s.command) commands++;
    else s.after = commands;
  }
  return queues;
}
