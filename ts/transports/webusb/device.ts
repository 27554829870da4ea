/**
 * A WebUSB-shaped `USBDevice` as a {@link TransportDevice}: the behaviour
 * the webusb transport (Chrome's navigator.usb, our simulated devices behind
 * its shape) and the node transport (the `usb` package's WebUSB-shaped
 * devices) share, written once. Each transport adds only what is its own
 * (device location, kernel drivers, ...).
 *
 * What it takes care of:
 * - libusb's raw control transfers become WebUSB control transfers; the
 *   standard requests that change device state (SET_CONFIGURATION,
 *   SET_INTERFACE, CLEAR_FEATURE(ENDPOINT_HALT)) go through the matching
 *   WebUSB calls so the platform's view of the device stays right.
 * - Chrome refuses most calls while a state change (open, close,
 *   selectConfiguration, claim, release, selectAlternateInterface) is in
 *   progress; transfers submitted meanwhile wait for it instead of failing.
 * - Every DOMException maps to a specific libusb error or transfer status
 *   ({@link controlErrorCode}, {@link transferErrorStatus}).
 * - WebUSB cannot cancel a transfer. An IN endpoint is treated as a stream:
 *   WebUSB transfers answer in order, and each answer goes to the oldest
 *   libusb transfer still waiting. When libusb gives up on a transfer
 *   (timeout, cancel) it leaves the queue; whatever its WebUSB transfer
 *   later receives goes to the next libusb transfer on that endpoint instead
 *   of being lost, which is what a cancelled URB on Linux amounts to (the
 *   data would have stayed on the device). The abandoned transfer's own
 *   buffer is never written: the host completed it already.
 * - Copies: OUT data is copied once (WebUSB rejects views of a
 *   SharedArrayBuffer, and wasm memory is one; a platform that takes them
 *   skips it, see `acceptsSharedMemory`), into a staging buffer the device
 *   keeps rather than a new one per transfer; IN data arrives in a fresh
 *   buffer that the host copies once into wasm memory.
 * @module
 */
import {
  ErrorCode, RequestType, StandardRequest, TransferStatus, TransferType,
  type LibusbErrorCode,
} from '../../usb/constants.js';
import {
  TransportError, describeError, type DeviceLocation, type DeviceStrings, type ResetOutcome,
  type TransferRequest, type TransferCompletion, type TransportDevice,
} from '../transport.js';
import { controlErrorCode, transferErrorStatus } from './errors.js';
import { inAnswer, isoAnswer, outAnswer, written } from './answers.js';
import { InPipe, type InAnswer } from './in-pipe.js';
import type {
  USBControlTransferParameters, USBDeviceLike, USBEndpointLike, USBInTransferResultLike, USBOutTransferResultLike,
} from './types.js';

/** The calls that move data: what {@link WebUsbDevice.deviceFor} answers with. */
export type USBTransferCalls = Pick<USBDeviceLike, 'controlTransferIn' | 'controlTransferOut' | 'transferIn' | 'transferOut'
  | 'isochronousTransferIn' | 'isochronousTransferOut'>;

export interface WebUsbDeviceOptions {
  location: DeviceLocation;
  /** Resolves when the platform reports the device disconnected. */
  gone: Promise<void>;
  /** Where to say why a transfer failed unexpectedly (default: console.warn). */
  log?: (message: string) => void;
  /**
   * The platform takes views of a SharedArrayBuffer (the `usb` package does;
   * WebUSB does not): OUT data then goes straight from the program's buffer
   * in wasm memory, without the copy.
   */
  acceptsSharedMemory?: boolean;
}

/** The largest OUT staging buffer a device keeps (see WebUsbDevice's outData). */
const STAGING_MAX = 1 << 20;

/** How long a failed call waits for a disconnect event before it asks the device whether it is there. */
const DISCONNECT_GRACE_MS = 100;
/** How long the device may take to answer that question (an answer that does not come counts as one). */
const PRESENCE_PROBE_MS = 1000;
/**
 * How long a failed call waits for the disconnect event once the device has
 * stopped answering: Chrome on Linux fires it hundreds of milliseconds after
 * the transfers failed (the OS removes the device after failing its URBs),
 * longer on a loaded machine. A device that re-enumerates after a reset
 * leaves the same way.
 */
const DISCONNECT_WAIT_MS = 5000;

const REQUEST_TYPES = ['standard', 'class', 'vendor'] as const;
const RECIPIENTS = ['device', 'interface', 'endpoint', 'other'] as const;

export class WebUsbDevice implements TransportDevice {
  readonly location: DeviceLocation;
  readonly strings: DeviceStrings;
  /** The WebUSB device this adapts. */
  protected readonly device: USBDeviceLike;
  private readonly acceptsSharedMemory: boolean;
  private gone = false;
  private readonly goneSignal: Promise<void>;
  private readonly log: (message: string) => void;
  private pipes = new Map<number, InPipe>();
  /** Settles when the state change in progress (if any) is over. */
  private changing: Promise<void> | undefined;
  /** The current alternate settings' endpoints by address (see endpointInfo()); dropped by every state change. */
  private endpoints: Map<number, USBEndpointLike> | undefined;
  /** Transfers libusb gave up on before they reached the platform. */
  private readonly abandoned = new WeakSet<TransferRequest>();
  /** Where OUT data is copied for the platform (see outData()). */
  private staging = new Uint8Array(64);

  constructor(device: USBDeviceLike, options: WebUsbDeviceOptions) {
    this.device = device;
    this.location = options.location;
    this.log = options.log ?? ((m) => console.warn(m));
    this.acceptsSharedMemory = options.acceptsSharedMemory ?? false;
    this.goneSignal = options.gone.then(() => {
      this.gone = true;
    });
    this.strings = {
      manufacturer: device.manufacturerName ?? undefined,
      product: device.productName ?? undefined,
      serialNumber: device.serialNumber ?? undefined,
    };
  }

  // ---- control plane ---------------------------------------------------------

  async open(): Promise<void> {
    await this.stateChange(() => this.device.open(), ErrorCode.ACCESS);
  }

  async close(): Promise<void> {
    this.pipes = new Map();
    await this.idle();
    if (this.device.opened) await this.stateChange(() => this.device.close(), ErrorCode.IO).catch(() => {});
  }

  getConfiguration(): number {
    return this.device.configuration?.configurationValue ?? 0;
  }

  async setConfiguration(value: number): Promise<void> {
    if (value === 0) throw new TransportError(ErrorCode.NOT_SUPPORTED, 'WebUSB cannot put a device in the unconfigured state');
    await this.stateChange(() => this.device.selectConfiguration(value), ErrorCode.IO);
    this.pipes = new Map();
  }

  async claimInterface(iface: number): Promise<void> {
    // a failure to claim is another driver or program holding it
    await this.stateChange(() => this.device.claimInterface(iface), ErrorCode.BUSY);
  }

  async releaseInterface(iface: number): Promise<void> {
    await this.stateChange(() => this.device.releaseInterface(iface), ErrorCode.IO);
    this.dropPipes(iface);
  }

  async setAlternateSetting(iface: number, alternate: number): Promise<void> {
    await this.stateChange(() => this.device.selectAlternateInterface(iface, alternate), ErrorCode.IO);
    this.dropPipes(iface);
  }

  async clearHalt(endpoint: number): Promise<void> {
    await this.idle();
    await this.call(() => this.device.clearHalt(endpoint & 0x80 ? 'in' : 'out', endpoint & 0x0f), ErrorCode.IO);
    this.pipes.get(endpoint)?.flush();
  }

  async reset(): Promise<ResetOutcome> {
    this.pipes = new Map();
    try {
      await this.stateChange(() => this.device.reset(), ErrorCode.IO);
    } catch (e) {
      // A device that re-enumerates leaves the bus: Chrome rejects reset()
      // (NetworkError, or NotFoundError once it is gone) and reports a
      // disconnect, then the device arrives anew. libusb says NOT_FOUND.
      if (await this.disconnected()) return 'reenumerated';
      throw e;
    }
    return 'same';
  }

  /** An answer that does not fit WebUSB: one line, the transfer ends with an error. */
  private readonly complain = (problem: string): void => this.log(`webusb: ${problem}`);

  /** Run a call that changes device or interface state (see {@link exclusive}). */
  private stateChange<T>(fn: () => Promise<T>, failure: LibusbErrorCode): Promise<T> {
    return this.call(() => this.exclusive(fn), failure);
  }

  /**
   * Run a call that changes device or interface state, alone. Chrome rejects
   * other calls meanwhile (InvalidStateError), so transfers wait for it.
   */
  private async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    while (this.changing) await this.changing; // no await between this check and taking the turn
    let done!: () => void;
    const changing = new Promise<void>((r) => (done = r));
    this.changing = changing;
    try {
      return await fn();
    } finally {
      this.endpoints = undefined; // whatever changed, the endpoint table is read again
      if (this.changing === changing) this.changing = undefined;
      done();
    }
  }

  /** Settles once no state change is in progress. */
  private async idle(): Promise<void> {
    while (this.changing) await this.changing;
  }

  /**
   * Run a WebUSB call, turning its DOMException into a TransportError with
   * the libusb code that fits. `failure` is the code for the platform's
   * generic failure (NetworkError), which depends on the operation.
   */
  protected async call<T>(fn: () => Promise<T>, failure: LibusbErrorCode): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      const name = nameOf(e);
      const gone = name === 'NotFoundError' || name === 'NetworkError' ? await this.disconnected() : this.gone;
      throw new TransportError(controlErrorCode(name, failure, gone), describeError(e));
    }
  }

  /** Whether the device has gone, waiting briefly for the platform to say so. */
  /**
   * Whether the device has gone, after a call failed in a way a departing
   * device makes calls fail (NetworkError, NotFoundError, a reset that could
   * not be done). The platform's disconnect event may come later than the
   * failure: a device that does not answer a GET_STATUS any more is waited
   * for until it comes.
   */
  private async disconnected(): Promise<boolean> {
    if (this.gone) return true;
    await within(this.goneSignal, DISCONNECT_GRACE_MS);
    if (this.gone || await this.answers()) return this.gone;
    await within(this.goneSignal, DISCONNECT_WAIT_MS);
    return this.gone;
  }

  /** Whether the device still answers a request every device must answer (GET_STATUS); undecided counts as yes. */
  private async answers(): Promise<boolean> {
    const getStatus: USBControlTransferParameters = { requestType: 'standard', recipient: 'device', request: StandardRequest.GET_STATUS, value: 0, index: 0 };
    try {
      await within(this.device.controlTransferIn(getStatus, 2), PRESENCE_PROBE_MS);
      return true;
    } catch (e) {
      // not open, a state change in progress...: the device may well be there
      const name = nameOf(e);
      return name !== 'NetworkError' && name !== 'NotFoundError';
    }
  }

  /** IN pipes of an interface's endpoints start afresh (its transfers were aborted). */
  private dropPipes(iface: number): void {
    for (const i of this.device.configuration?.interfaces ?? []) {
      if (i.interfaceNumber !== iface) continue;
      for (const a of i.alternates) for (const e of a.endpoints) if (e.direction === 'in') this.pipes.delete(0x80 | e.endpointNumber);
    }
  }

  // ---- transfers -------------------------------------------------------------

  /**
   * The device a transfer's WebUSB calls go to: the device itself. A
   * transport whose platform wants more than WebUSB says about a transfer
   * (the node transport: its timeout, its place in a queue) answers with a
   * view of the device that knows the request.
   */
  protected deviceFor(request: TransferRequest): USBTransferCalls {
    void request;
    return this.device;
  }

  /**
   * OUT data for the platform: the one copy, unless it takes views of shared
   * memory. The copy goes to a staging buffer kept for the next transfer:
   * WebUSB copies the data when the call is made (the spec's "get a copy of
   * the bytes held by the buffer source", and so do Chrome and the `usb`
   * package), so the buffer is free again once the call returns. Call the
   * platform right after this, with no await between.
   */
  private outData(request: TransferRequest, length = request.data?.length ?? 0): Uint8Array<ArrayBuffer> {
    if (!request.data) return new Uint8Array(0);
    const data = request.data.subarray(0, length);
    // (a view of shared memory only goes where the platform said it takes one)
    if (this.acceptsSharedMemory) return data as Uint8Array<ArrayBuffer>;
    if (data.length > STAGING_MAX) return data.slice() as Uint8Array<ArrayBuffer>; // rare: not worth keeping
    if (this.staging.length < data.length) this.staging = new Uint8Array(Math.min(STAGING_MAX, Math.max(data.length, 2 * this.staging.length)));
    const staged = this.staging.subarray(0, data.length);
    staged.set(data);
    return staged;
  }

  transfer(request: TransferRequest): TransferCompletion | Promise<TransferCompletion> {
    if (this.changing) return this.idle().then(() => this.transfer(request));
    return this.startTransfer(request);
  }

  /** WebUSB cannot cancel: the host completes the transfer; later data goes to the next one (see above). */
  cancel(request: TransferRequest): boolean {
    this.abandoned.add(request);
    if (request.type !== TransferType.CONTROL && request.endpoint & 0x80) this.pipes.get(request.endpoint)?.abandon(request);
    return false;
  }

  private startTransfer(request: TransferRequest): TransferCompletion | Promise<TransferCompletion> {
    if (this.abandoned.has(request)) return { status: TransferStatus.CANCELLED };
    if (request.type !== TransferType.CONTROL && this.wrongType(request)) return { status: TransferStatus.ERROR };
    switch (request.type) {
      case TransferType.CONTROL:
        return this.control(request);
      case TransferType.ISOCHRONOUS:
        return this.isochronous(request);
      default:
        return request.endpoint & 0x80 ? this.inPipe(request.endpoint).submit(request) : this.transferOut(request);
    }
  }

  private inPipe(endpoint: number): InPipe {
    let pipe = this.pipes.get(endpoint);
    if (!pipe) {
      const fail = (e: unknown): Promise<InAnswer> => this.failure(e, `transferIn(${endpoint & 0x0f})`);
      pipe = new InPipe((request, answered) => {
        let answer: Promise<USBInTransferResultLike>;
        try {
          answer = this.deviceFor(request).transferIn(endpoint & 0x0f, request.length);
        } catch (e) {
          void fail(e).then(answered);
          return;
        }
        answer.then((r) => answered(inAnswer(r, `transferIn(${endpoint & 0x0f})`, this.complain)), (e) => void fail(e).then(answered));
      });
      this.pipes.set(endpoint, pipe);
    }
    return pipe;
  }

  // (transferOut and control IN chain with then() rather than await: each
  // await is a promise and a microtask more per transfer)
  private transferOut(request: TransferRequest): Promise<TransferCompletion> {
    const ep = request.endpoint & 0x0f;
    const fail = (e: unknown): Promise<TransferCompletion> => this.failure(e, `transferOut(${ep})`);
    const data = this.outData(request);
    const device = this.deviceFor(request);
    let sent: Promise<USBOutTransferResultLike>;
    try {
      sent = device.transferOut(ep, data);
    } catch (e) {
      return fail(e);
    }
    return sent.then((r): TransferCompletion | Promise<TransferCompletion> => {
      const answer = outAnswer(r, `transferOut(${ep})`, this.complain);
      if (answer.status === TransferStatus.COMPLETED && request.zeroLengthPacket && data.length > 0) {
        const mps = this.packetSize(request.endpoint);
        if (mps && data.length % mps === 0) {
          return device.transferOut(ep, new Uint8Array(0)).then((z) => {
            const zs = outAnswer(z, `transferOut(${ep}) of a zero-length packet`, this.complain).status;
            return { status: zs, bytesWritten: written(zs, answer.bytesWritten) };
          }, fail);
        }
      }
      return answer;
    }, fail);
  }

  private control(request: TransferRequest): TransferCompletion | Promise<TransferCompletion> {
    const s = request.setup!;
    const type = (s.bmRequestType & RequestType.TYPE_MASK) >> 5;
    const recipient = s.bmRequestType & RequestType.RECIPIENT_MASK;
    if (type > 2 || recipient > 3) {
      this.log(`webusb: control request type 0x${s.bmRequestType.toString(16)} cannot be expressed in WebUSB (reserved type or recipient)`);
      return { status: TransferStatus.ERROR };
    }
    const setup: USBControlTransferParameters = {
      requestType: REQUEST_TYPES[type], recipient: RECIPIENTS[recipient],
      request: s.bRequest, value: s.wValue, index: s.wIndex,
    };
    const fail = (e: unknown): Promise<TransferCompletion> =>
      this.failure(e, `control transfer 0x${s.bmRequestType.toString(16)}/0x${s.bRequest.toString(16)}`);
    const device = this.deviceFor(request);
    try {
      if (s.bmRequestType & RequestType.DIR_IN) {
        return device.controlTransferIn(setup, request.length).then((r) => inAnswer(r, 'controlTransferIn', this.complain), fail);
      }
      return this.controlOut(request, setup, device).catch(fail);
    } catch (e) {
      return fail(e);
    }
  }

  private async controlOut(request: TransferRequest, setup: USBControlTransferParameters, device: USBTransferCalls): Promise<TransferCompletion> {
    const s = request.setup!;
    const routed = await this.routeStandardRequest(s.bmRequestType, s.bRequest, s.wValue, s.wIndex);
    if (routed) return routed;
    // an empty Uint8Array, not undefined, for requests without data (usb@3.1.0 throws on undefined)
    return outAnswer(await device.controlTransferOut(setup, this.outData(request)), 'controlTransferOut', this.complain);
  }

  /** State-changing standard requests go through WebUSB's own calls. */
  private async routeStandardRequest(bmRequestType: number, bRequest: number, wValue: number, wIndex: number)
    : Promise<TransferCompletion | undefined> {
    const stall = (e: unknown): TransferCompletion => {
      // what the platform cannot find, the device would not know either
      if (nameOf(e) === 'NotFoundError' && !this.gone) return { status: TransferStatus.STALL };
      throw e;
    };
    const done: TransferCompletion = { status: TransferStatus.COMPLETED, bytesWritten: 0 };
    if (bmRequestType === 0x00 && bRequest === StandardRequest.SET_CONFIGURATION) {
      if ((wValue & 0xff) === 0) return { status: TransferStatus.STALL };
      return this.exclusive(() => this.device.selectConfiguration(wValue & 0xff)).then(() => {
        this.pipes = new Map();
        return done;
      }, stall);
    }
    if (bmRequestType === 0x01 && bRequest === StandardRequest.SET_INTERFACE) {
      return this.exclusive(() => this.device.selectAlternateInterface(wIndex & 0xff, wValue & 0xff)).then(() => {
        this.dropPipes(wIndex & 0xff);
        return done;
      }, stall);
    }
    if (bmRequestType === 0x02 && bRequest === StandardRequest.CLEAR_FEATURE && wValue === 0 && (wIndex & 0x0f) !== 0) {
      return this.device.clearHalt(wIndex & 0x80 ? 'in' : 'out', wIndex & 0x0f).then(() => {
        this.pipes.get(wIndex & 0x8f)?.flush();
        return done;
      }, stall);
    }
    return undefined;
  }

  private async isochronous(request: TransferRequest): Promise<TransferCompletion> {
    const ep = request.endpoint & 0x0f;
    const lengths = Array.from(request.isoPacketLengths ?? []);
    const device = this.deviceFor(request);
    try {
      if (request.endpoint & 0x80) {
        return isoAnswer(await device.isochronousTransferIn(ep, lengths), true, `isochronousTransferIn(${ep})`, this.complain);
      }
      // WebUSB wants exactly the bytes the packets add up to
      const data = this.outData(request, lengths.reduce((a, b) => a + b, 0));
      return isoAnswer(await device.isochronousTransferOut(ep, data, lengths), false, `isochronousTransferOut(${ep})`, this.complain);
    } catch (e) {
      return this.failure(e, `isochronous transfer on endpoint 0x${request.endpoint.toString(16)}`);
    }
  }

  /** The transfer status for a rejected WebUSB transfer. */
  private async failure(e: unknown, what: string): Promise<InAnswer> {
    const name = nameOf(e);
    const gone = name === 'NotFoundError' || name === 'NetworkError' ? await this.disconnected() : this.gone;
    const status = transferErrorStatus(name, gone);
    if (status === TransferStatus.ERROR && name !== 'NetworkError') this.log(`webusb: ${what} failed: ${describeError(e)}`);
    return { status, data: new Uint8Array(0) };
  }

  private packetSize(endpoint: number): number | undefined {
    return this.endpointInfo(endpoint)?.packetSize;
  }

  /** An endpoint of the interfaces' current alternate settings, as the platform describes it. */
  private endpointInfo(endpoint: number): USBEndpointLike | undefined {
    // built once per state: `configuration` may cost a call into the platform
    // (the node transport reads sysfs), and every transfer asks
    if (!this.endpoints) {
      this.endpoints = new Map();
      for (const i of this.device.configuration?.interfaces ?? []) {
        for (const e of i.alternate?.endpoints ?? []) {
          const address = (e.direction === 'in' ? 0x80 : 0) | e.endpointNumber;
          if (!this.endpoints.has(address)) this.endpoints.set(address, e);
        }
      }
    }
    return this.endpoints.get(endpoint & 0x8f);
  }

  /**
   * An isochronous transfer to a bulk or interrupt endpoint, or the reverse:
   * the kernel rejects it, and Chromium 156 on Linux crashes on the
   * rejection of an isochronous one (the whole browser goes), so it never
   * reaches the platform.
   */
  private wrongType(request: TransferRequest): boolean {
    const type = this.endpointInfo(request.endpoint)?.type;
    if (type === undefined || (type === 'isochronous') === (request.type === TransferType.ISOCHRONOUS)) return false;
    const kind = request.type === TransferType.ISOCHRONOUS ? 'an isochronous' : request.type === TransferType.INTERRUPT ? 'an interrupt' : 'a bulk';
    this.log(`webusb: ${kind} transfer to endpoint 0x${request.endpoint.toString(16)}, a ${type} endpoint: refused`);
    return true;
  }
}

function nameOf(e: unknown): string {
  try {
    if (e && typeof e === 'object' && 'name' in e && typeof (e as { name: unknown }).name === 'string') return (e as { name: string }).name;
  } catch {
    // a getter that throws: no name
  }
  return '';
}

/** Settles when `promise` does or after `ms`, whichever comes first (its rejection passes through); leaves no timer behind. */
function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let stop!: () => void;
  const timeout = new Promise<undefined>((resolve) => {
    const timer = setTimeout(resolve, ms);
    stop = () => clearTimeout(timer);
  });
  return Promise.race([promise, timeout]).finally(() => stop());
}
