/**
 * The `replay` model: a device rebuilt from a capture (pcapng or pcap with
 * usbmon records: what `--capture` writes, or Wireshark/tcpdump on a Linux
 * usbmon interface). It presents the captured descriptors and answers each
 * request with what the device answered in the capture, in order per
 * endpoint (replay-script.ts). A request the capture does not have next on
 * that endpoint fails with a STALL, and one line says what was expected and
 * what came.
 *
 * - GET_DESCRIPTOR is answered from every descriptor the capture holds, in
 *   any order and as often as asked.
 * - Other control requests and OUT transfers must match the capture
 *   (setup packet; data and length); SET_CONFIGURATION, SET_INTERFACE and
 *   CLEAR_FEATURE change the device's state as well.
 * - An IN transfer gets the next captured answer on its endpoint, once the
 *   device has been sent what it had received before it gave that answer.
 * - A transfer that was cancelled in the capture (a libusb timeout) waits
 *   until it is cancelled again; one that ended because the device was
 *   gone makes the replay unplug itself.
 *
 * Spec: `replay:file=out.pcapng` (the runner reads the file), or
 * `{ model: 'replay', options: { file: bytes } }`; `address=N`, `bus=N`
 * choose a device in a capture of several, `program=ID` the transfers of
 * one program. Interfaces the program detached a kernel driver from have
 * one again (`kernelDrivers` to say otherwise), and the speed is the one the
 * descriptors imply (`speed=N`, libusb's speed codes, to say otherwise).
 * @module
 */
import { RequestType, StandardRequest, TransferStatus, TransferType } from '../../usb/constants.js';
import { parseConfiguration } from '../../usb/config-parse.js';
import { decodeSetupPacket } from '../../usb/setup-packet.js';
import { isInExchange, readUsbCapture } from '../../usb/capture/exchanges.js';
import { transferStatusOf } from '../../usb/capture/usbmon.js';
import type { SetupPacket, TransferCompletion, TransferRequest } from '../../transports/transport.js';
import type { DeviceSpec, EndpointKind } from '../descriptors.js';
import { SimDevice, type SimDeviceOptions } from '../device.js';
import type { ModelOptionDeclarations } from './model-options.js';
import { buildReplayScript, CONTROL_QUEUE, type ReplayScript, type ReplaySelection, type ReplayStep } from './replay-script.js';

/** The options a replay spec may give (`replay:file=out.pcapng,address=3`). */
export const REPLAY_OPTIONS: ModelOptionDeclarations = {
  file: { type: 'file', description: 'the capture to replay (pcapng or pcap with usbmon records)' },
  address: { type: 'integer', min: 1, max: 127, description: 'which device of a capture of several: its address' },
  bus: { type: 'integer', min: 1, max: 255, description: 'which device of a capture of several: its bus' },
  program: { type: 'string', description: "only the transfers of this program (the capture interface's name)" },
  speed: { type: 'integer', min: 0, max: 6, description: "libusb's speed code, when not the one the descriptors imply" },
};

/** Options of the replay model. */
export interface ReplayOptions extends SimDeviceOptions, ReplaySelection {
  /** The capture's bytes (pcapng or pcap). The CLI's `file=out.pcapng` is read into this. */
  file?: Uint8Array;
}

/** A transfer waiting for its answer. */
interface Waiting {
  request?: TransferRequest;
  step: ReplayStep;
  resolve: (completion: TransferCompletion) => void;
}

const KIND: Record<number, EndpointKind> = { 1: 'isochronous', 2: 'bulk', 3: 'interrupt' };
const hex = (bytes: Uint8Array | undefined, max = 16) => Array.from(bytes?.subarray(0, max) ?? [], (b) => b.toString(16).padStart(2, '0')).join(' ')
  + ((bytes?.length ?? 0) > max ? ' ...' : '');

/** The `replay` model (see the module's description). */
export class ReplayDevice extends SimDevice {
  private readonly script: ReplayScript;
  /** Per queue: the next step to give out. */
  private readonly next = new Map<number, number>();
  /** Commands (control requests, OUT transfers) replayed so far. */
  private commandsDone = 0;
  private readonly waiting: Waiting[] = [];
  private mismatches = 0;

  constructor(options: ReplayOptions = {}) {
    if (!(options.file instanceof Uint8Array)) {
      throw new Error('replay: give the capture to replay: file=out.pcapng in a device spec, or { file: bytes } from JS');
    }
    const script = buildReplayScript(readUsbCapture(options.file), options);
    super(specOf(script), {
      kernelDrivers: script.kernelDrivers, speed: script.speed, ...options,
      rawDescriptors: { device: script.device, configurations: script.configurations, bos: script.bos },
    });
    this.script = script;
  }

  override get label(): string {
    return this.script?.label ?? super.label;
  }

  override control(setup: SetupPacket, data?: Uint8Array): TransferCompletion | Promise<TransferCompletion> {
    if (!this.plugged) return { status: TransferStatus.NO_DEVICE };
    if (setup.bmRequestType === RequestType.DIR_IN && setup.bRequest === StandardRequest.GET_DESCRIPTOR) return this.descriptor(setup);
    const queue = this.script.queues.get(CONTROL_QUEUE) ?? [];
    const at = this.next.get(CONTROL_QUEUE) ?? 0;
    const step = queue[at] as ReplayStep | undefined;
    const came = describeControl(setup, data);
    if (!step || !sameSetup(step, setup) || !sameOutData(step, data, setup.wLength)) {
      return this.mismatch('control', step ? describeControl(step.exchange.setup!, step.exchange.submission?.data) : undefined, came, queue.length);
    }
    this.next.set(CONTROL_QUEUE, at + 1);
    this.commandsDone++;
    const answer = this.answer(step, setup.wLength);
    if (answer && answer.status === TransferStatus.COMPLETED && (setup.bmRequestType & RequestType.TYPE_MASK) === RequestType.TYPE_STANDARD) {
      void super.control(setup, data); // the state change: configuration, alternate setting, halt
    }
    this.release();
    return answer ?? this.wait({ step });
  }

  override transfer(request: TransferRequest): TransferCompletion | Promise<TransferCompletion> {
    if (!this.plugged) return { status: TransferStatus.NO_DEVICE };
    const queue = this.script.queues.get(request.endpoint) ?? [];
    const at = this.next.get(request.endpoint) ?? 0;
    const step = queue[at] as ReplayStep | undefined;
    const isIn = (request.endpoint & 0x80) !== 0;
    const endpoint = `endpoint 0x${request.endpoint.toString(16).padStart(2, '0')}`;
    if (!step || step.exchange.type !== request.type || (!isIn && !sameOut(step, request))) {
      return this.mismatch(endpoint, step && describeTransfer(step.exchange.type, step.exchange.endpoint, step.exchange.submission?.length ?? 0,
        step.exchange.submission?.data), describeTransfer(request.type, request.endpoint, request.length, request.data), queue.length);
    }
    this.next.set(request.endpoint, at + 1);
    if (!isIn) {
      this.commandsDone++;
      this.release();
    }
    const answer = isIn && this.commandsDone < step.after ? undefined : this.answer(step, request.length);
    return answer ?? this.wait({ request, step });
  }

  override cancel(request: TransferRequest): boolean {
    const i = this.waiting.findIndex((w) => w.request === request);
    if (i < 0) return false;
    const [w] = this.waiting.splice(i, 1);
    // a transfer the capture saw completed is offered again to the next one on its endpoint
    const key = request.endpoint;
    if (!this.cancelledInCapture(w.step) && this.script.queues.get(key)?.[(this.next.get(key) ?? 0) - 1] === w.step) {
      this.next.set(key, (this.next.get(key) ?? 1) - 1);
    }
    w.resolve({ status: TransferStatus.CANCELLED });
    return true;
  }

  override disconnect(): void {
    super.disconnect();
    for (const w of this.waiting.splice(0)) w.resolve({ status: TransferStatus.NO_DEVICE });
  }

  override inspect(): unknown {
    const left: Record<string, number> = {};
    for (const [key, queue] of this.script.queues) {
      const n = queue.length - (this.next.get(key) ?? 0);
      if (n) left[key === CONTROL_QUEUE ? 'control' : `0x${key.toString(16)}`] = n;
    }
    return { ...(super.inspect() as object), replay: true, mismatches: this.mismatches, left };
  }

  /** GET_DESCRIPTOR: any descriptor the capture holds (a string in any language when the one asked is missing). */
  private descriptor(setup: SetupPacket): TransferCompletion {
    const d = this.script.descriptors;
    const key = ((setup.wValue << 16) | setup.wIndex) >>> 0;
    if (this.script.stalledDescriptors.has(key)) return { status: TransferStatus.STALL };
    let bytes = d.get(key);
    if (!bytes && setup.wValue >> 8 === 0x03) {
      for (const [key, value] of d) if (key >>> 16 === setup.wValue) bytes = value;
    }
    if (!bytes) {
      this.mismatches++;
      this.log(`replay ${this.label}: control: expected no GET_DESCRIPTOR(type ${setup.wValue >> 8}, index ${setup.wValue & 0xff}) `
        + `(the capture never saw it answered), got ${describeControl(setup)}; answering STALL`);
      return { status: TransferStatus.STALL };
    }
    return { status: TransferStatus.COMPLETED, data: bytes.subarray(0, setup.wLength) };
  }

  /** The captured answer to a step, fitted to the room the transfer has now; undefined when the capture has none (it waits). */
  private answer(step: ReplayStep, room: number): TransferCompletion | undefined {
    const c = step.exchange.completion;
    if (!c || this.cancelledInCapture(step)) return undefined;
    let status = transferStatusOf(c.status);
    // the device was gone: it leaves before the program can send anything else
    if (status === TransferStatus.NO_DEVICE) queueMicrotask(() => this.unplugSelf());
    const isIn = isInExchange(step.exchange);
    if (step.exchange.type === TransferType.ISOCHRONOUS) {
      return {
        status,
        isoPackets: (c.isoDescriptors ?? []).map((d) => ({
          status: transferStatusOf(d.status),
          ...(isIn ? { data: fitted(c.data, d.offset, d.length) } : { length: d.length }),
        })),
      };
    }
    if (!isIn) return { status, bytesWritten: c.length };
    let data = fitted(c.data, 0, c.length);
    if (data.length > room) {
      data = data.subarray(0, room);
      if (status === TransferStatus.COMPLETED) status = TransferStatus.OVERFLOW; // as a device that sends more than asked
    }
    return { status, data };
  }

  /** libusb cancels a transfer that times out: the capture then has an unlink, and the replay waits for the cancel too. */
  private cancelledInCapture(step: ReplayStep): boolean {
    const c = step.exchange.completion;
    return !!c && transferStatusOf(c.status) === TransferStatus.CANCELLED;
  }

  private wait(w: Omit<Waiting, 'resolve'>): Promise<TransferCompletion> {
    return new Promise((resolve) => this.waiting.push({ ...w, resolve }));
  }

  /** A command was replayed: answer the IN transfers that were waiting for it. */
  private release(): void {
    for (const w of [...this.waiting]) {
      if (w.step.command || this.commandsDone < w.step.after) continue;
      const answer = this.answer(w.step, w.request?.length ?? 0);
      if (!answer) continue;
      this.waiting.splice(this.waiting.indexOf(w), 1);
      w.resolve(answer);
    }
  }

  private mismatch(where: string, expected: string | undefined, came: string, total: number): TransferCompletion {
    this.mismatches++;
    this.log(`replay ${this.label}: ${where}: expected ${expected ?? `nothing more (the capture's ${total} transfers there are used up)`}, `
      + `got ${came}; answering STALL`);
    return { status: TransferStatus.STALL };
  }
}

/** Captured bytes [offset, offset + length), zero-filled where a snap length cut them. */
function fitted(data: Uint8Array | undefined, offset: number, length: number): Uint8Array {
  const have = data?.subarray(offset, offset + length) ?? new Uint8Array(0);
  if (have.length === length) return have;
  const out = new Uint8Array(length);
  out.set(have);
  return out;
}

function sameSetup(step: ReplayStep, s: SetupPacket): boolean {
  // (a captured setup packet is always its 8 bytes: see decodeUsbmon())
  const c = decodeSetupPacket(step.exchange.setup!);
  return c.bmRequestType === s.bmRequestType && c.bRequest === s.bRequest && c.wValue === s.wValue
    && c.wIndex === s.wIndex && c.wLength === s.wLength;
}

/** OUT data as captured (the part a snap length kept). IN: nothing to compare. */
function sameOutData(step: ReplayStep, data: Uint8Array | undefined, length: number): boolean {
  if (isInExchange(step.exchange) || !length) return true;
  const captured = step.exchange.submission?.data ?? new Uint8Array(0);
  const given = data ?? new Uint8Array(0);
  if (step.exchange.submission?.dataComplete && captured.length !== given.length) return false;
  for (let i = 0; i < captured.length; i++) if (captured[i] !== given[i]) return false;
  return true;
}

function sameOut(step: ReplayStep, request: TransferRequest): boolean {
  if ((step.exchange.submission?.length ?? -1) !== request.length) return false;
  if (request.type === TransferType.ISOCHRONOUS) {
    const lengths = step.exchange.submission?.isoDescriptors?.map((d) => d.length) ?? [];
    const asked = Array.from(request.isoPacketLengths ?? []);
    if (lengths.length !== asked.length || lengths.some((n, i) => n !== asked[i])) return false;
  }
  return sameOutData(step, request.data, request.length);
}

function describeControl(setup: SetupPacket | Uint8Array, data?: Uint8Array): string {
  const s = setup instanceof Uint8Array ? decodeSetupPacket(setup) : setup;
  const h2 = (n: number) => n.toString(16).padStart(2, '0');
  const h4 = (n: number) => n.toString(16).padStart(4, '0');
  const text = `control ${s.bmRequestType & 0x80 ? 'IN' : 'OUT'} ${h2(s.bmRequestType)} ${h2(s.bRequest)} ${h4(s.wValue)} ${h4(s.wIndex)} ${h4(s.wLength)}`;
  return !(s.bmRequestType & 0x80) && s.wLength && data ? `${text} data ${hex(data)}` : text;
}

function describeTransfer(type: number, endpoint: number, length: number, data?: Uint8Array): string {
  const kind = ['control', 'isochronous', 'bulk', 'interrupt'][type] ?? `type ${type}`;
  const text = `${kind} ${endpoint & 0x80 ? 'IN' : 'OUT'} ${length} bytes`;
  return !(endpoint & 0x80) && length && data ? `${text}: ${hex(data)}` : text;
}

/** The device as data, so the framework builds its configurations and endpoints (the bytes presented are the captured ones). */
function specOf(script: ReplayScript): DeviceSpec {
  const d = script.device;
  const word = (at: number) => d[at] | (d[at + 1] << 8);
  return {
    bcdUSB: word(2), deviceClass: d[4], deviceSubclass: d[5], deviceProtocol: d[6], maxPacketSize0: d[7],
    vendorId: word(8), productId: word(10), bcdDevice: word(12),
    configurations: script.configurations.map((raw) => {
      const c = parseConfiguration(raw);
      return {
        value: c.value,
        interfaces: c.alternates.map((a) => ({
          number: a.interfaceNumber, alternate: a.alternate, class: a.interfaceClass, subclass: a.interfaceSubclass,
          protocol: a.interfaceProtocol,
          endpoints: a.endpoints.filter((e) => KIND[e.type]).map((e) => ({ address: e.address, type: KIND[e.type], maxPacketSize: e.maxPacketSize & 0x7ff })),
        })),
      };
    }),
  };
}
