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
 * - Every DOMException maps to a specific libusb error or transfer status.
 * - WebUSB cannot cancel a transfer. When libusb gives up on an IN transfer
 *   (timeout, cancel), its WebUSB transfer stays queued; whatever it later
 *   receives is kept for the next IN transfer on that endpoint instead of
 *   being lost, which is what a cancelled URB on Linux amounts to (the data
 *   would have stayed on the device). The abandoned transfer's own buffer is
 *   never written: the host completed it already.
 * - Copies: OUT data is copied once (WebUSB rejects views of a
 *   SharedArrayBuffer; a platform that takes them skips it, see
 *   `acceptsSharedMemory`); IN data arrives in a fresh buffer that the host
 *   copies once into wasm memory.
 * @module
 */
import {
  LibusbError, RequestType, StandardRequest, TransferStatus, TransferType,
  type LibusbErrorCode, type TransferStatusCode,
} from '../usb/constants.js';
import {
  TransportError, type DeviceLocation, type DeviceStrings, type IsoPacketResult, type ResetOutcome,
  type TransferRequest, type TransferResult, type TransportDevice,
} from './transport.js';
import type {
  USBControlTransferParameters, USBDeviceLike, USBInTransferResultLike, USBTransferStatus,
} from './webusb-types.js';

/** The calls that move data: what {@link WebUsbDevice.deviceFor} answers with. */
export type USBTransferCalls = Pick<USBDeviceLike, 'controlTransferIn' | 'controlTransferOut' | 'transferIn' | 'transferOut'
  | 'isochronousTransferIn' | 'isochronousTransferOut'>;

export interface WebUsbDeviceOptions {
  location: DeviceLocation;
  /** Resolves when the platform reports the device disconnected. */
  gone: Promise<void>;
  /**
   * The platform takes views of a SharedArrayBuffer (the `usb` package does;
   * WebUSB does not): OUT data then goes straight from the program's buffer
   * in wasm memory, without the copy.
   */
  acceptsSharedMemory?: boolean;
}

/** How long a failed transfer waits for a disconnect event before it is called an error. */
const DISCONNECT_GRACE_MS = 100;

const REQUEST_TYPES = ['standard', 'class', 'vendor'] as const;
const RECIPIENTS = ['device', 'interface', 'endpoint', 'other'] as const;

interface Stashed {
  status: TransferStatusCode;
  data: Uint8Array;
}

interface Orphan {
  promise: Promise<Stashed>;
  adopted: boolean;
}

/** IN data that outlived the libusb transfer it was meant for. */
class InPipe {
  readonly stash: Stashed[] = [];
  readonly orphans: Orphan[] = [];
}

export class WebUsbDevice implements TransportDevice {
  readonly location: DeviceLocation;
  readonly strings: DeviceStrings;
  protected readonly device: USBDeviceLike;
  private readonly acceptsSharedMemory: boolean;
  private gone = false;
  private readonly goneSignal: Promise<void>;
  private readonly pipes = new Map<number, InPipe>();
  /** IN transfers on their way, by the host's request object */
  private readonly live = new Map<TransferRequest, { pipe: InPipe; raw: Promise<Stashed>; orphaned: boolean }>();

  constructor(device: USBDeviceLike, options: WebUsbDeviceOptions) {
    this.device = device;
    this.location = options.location;
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
    await this.call(() => this.device.open(), LibusbError.ACCESS);
  }

  async close(): Promise<void> {
    this.pipes.clear();
    if (this.device.opened) await this.device.close().catch(() => {});
  }

  getConfiguration(): number {
    return this.device.configuration?.configurationValue ?? 0;
  }

  async setConfiguration(value: number): Promise<void> {
    if (value === 0) throw new TransportError(LibusbError.NOT_SUPPORTED, 'WebUSB cannot put a device in the unconfigured state');
    await this.call(() => this.device.selectConfiguration(value), LibusbError.IO);
    this.pipes.clear();
  }

  async claimInterface(iface: number): Promise<void> {
    // a failure to claim is another driver or program holding it
    await this.call(() => this.device.claimInterface(iface), LibusbError.BUSY);
  }

  async releaseInterface(iface: number): Promise<void> {
    await this.call(() => this.device.releaseInterface(iface), LibusbError.IO);
  }

  async setAlternateSetting(iface: number, alternate: number): Promise<void> {
    await this.call(() => this.device.selectAlternateInterface(iface, alternate), LibusbError.IO);
  }

  async clearHalt(endpoint: number): Promise<void> {
    await this.call(() => this.device.clearHalt(endpoint & 0x80 ? 'in' : 'out', endpoint & 0x0f), LibusbError.IO);
    this.pipes.get(endpoint)?.stash.splice(0);
  }

  async reset(): Promise<ResetOutcome> {
    await this.call(() => this.device.reset(), LibusbError.IO);
    this.pipes.clear();
    return 'same';
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
      throw new TransportError(await this.errorCode(e, failure), describe(e));
    }
  }

  /** The libusb error code for a DOMException from a control-plane call. */
  protected async errorCode(e: unknown, failure: LibusbErrorCode): Promise<LibusbErrorCode> {
    switch (nameOf(e)) {
      case 'NotFoundError': // the device is gone, or what was asked for does not exist
        return (await this.disconnected()) ? LibusbError.NO_DEVICE : LibusbError.NOT_FOUND;
      case 'SecurityError': // protected interface class, blocklisted device, no permission
        return LibusbError.ACCESS;
      case 'InvalidStateError': // not open, not claimed, claimed elsewhere in this context
        return LibusbError.BUSY;
      case 'NetworkError':
        return (await this.disconnected()) ? LibusbError.NO_DEVICE : failure;
      case 'AbortError':
        return LibusbError.INTERRUPTED;
      case 'TypeError':
      case 'InvalidAccessError':
        return LibusbError.INVALID_PARAM;
      case 'NotSupportedError':
        return LibusbError.NOT_SUPPORTED;
      case 'TimeoutError':
        return LibusbError.TIMEOUT;
      default:
        return failure;
    }
  }

  /** Whether the device has gone, waiting briefly for the platform to say so. */
  private async disconnected(): Promise<boolean> {
    if (this.gone) return true;
    await Promise.race([this.goneSignal, delay(DISCONNECT_GRACE_MS)]);
    return this.gone;
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

  /** OUT data for the platform: the one copy, unless it takes views of shared memory. */
  private outData(request: TransferRequest): Uint8Array<ArrayBuffer> {
    if (!request.data) return new Uint8Array(0);
    // (a view of shared memory only goes where the platform said it takes one)
    return (this.acceptsSharedMemory ? request.data : request.data.slice()) as Uint8Array<ArrayBuffer>;
  }

  transfer(request: TransferRequest): TransferResult | Promise<TransferResult> {
    switch (request.type) {
      case TransferType.CONTROL:
        return this.control(request);
      case TransferType.ISOCHRONOUS:
        return this.isochronous(request);
      default:
        return request.endpoint & 0x80 ? this.transferIn(request) : this.transferOut(request);
    }
  }

  /** WebUSB cannot cancel; an abandoned IN transfer's data is kept for the next one (see above). */
  cancel(request: TransferRequest): boolean {
    const live = this.live.get(request);
    if (live) {
      this.live.delete(request);
      live.orphaned = true;
      const orphan: Orphan = { promise: live.raw, adopted: false };
      live.pipe.orphans.push(orphan);
      live.raw.then((r) => {
        if (orphan.adopted) return;
        live.pipe.orphans.splice(live.pipe.orphans.indexOf(orphan), 1);
        if (r.status !== TransferStatus.CANCELLED && r.status !== TransferStatus.NO_DEVICE) live.pipe.stash.push(r);
      });
    }
    return false;
  }

  private transferIn(request: TransferRequest): TransferResult | Promise<TransferResult> {
    const ep = request.endpoint;
    let pipe = this.pipes.get(ep);
    if (pipe?.stash.length) return take(pipe.stash, request.length);
    if (pipe?.orphans.length) {
      const orphan = pipe.orphans.shift()!;
      orphan.adopted = true;
      const p = pipe;
      return orphan.promise.then((r) => {
        p.stash.unshift(r);
        return take(p.stash, request.length);
      });
    }
    if (!pipe) {
      pipe = new InPipe();
      this.pipes.set(ep, pipe);
    }
    const raw = this.deviceFor(request).transferIn(ep & 0x0f, request.length).then(
      (r) => inResult(r),
      (e) => this.transferFailure(e),
    );
    const entry = { pipe, raw, orphaned: false };
    this.live.set(request, entry);
    return raw.then((r) => {
      if (entry.orphaned) return r; // the host gave up on it; cancel() kept the data
      this.live.delete(request);
      if (r.data.length <= request.length) return r;
      // more than asked for: the rest belongs to the next transfer
      const stashPipe = this.pipes.get(ep)!;
      stashPipe.stash.unshift(r);
      return take(stashPipe.stash, request.length);
    });
  }

  private async transferOut(request: TransferRequest): Promise<TransferResult> {
    const ep = request.endpoint & 0x0f;
    const data = this.outData(request);
    const device = this.deviceFor(request);
    try {
      const r = await device.transferOut(ep, data);
      let status = transferStatus(r.status);
      if (status === TransferStatus.COMPLETED && request.zeroLengthPacket && data.length > 0) {
        const mps = this.packetSize(request.endpoint);
        if (mps && data.length % mps === 0) status = transferStatus((await device.transferOut(ep, new Uint8Array(0))).status);
      }
      return { status, bytesWritten: r.bytesWritten };
    } catch (e) {
      return this.transferFailure(e);
    }
  }

  private async control(request: TransferRequest): Promise<TransferResult> {
    const s = request.setup!;
    const type = (s.bmRequestType & RequestType.TYPE_MASK) >> 5;
    const recipient = s.bmRequestType & RequestType.RECIPIENT_MASK;
    if (type > 2 || recipient > 3) return { status: TransferStatus.ERROR }; // not expressible in WebUSB
    const setup: USBControlTransferParameters = {
      requestType: REQUEST_TYPES[type], recipient: RECIPIENTS[recipient],
      request: s.bRequest, value: s.wValue, index: s.wIndex,
    };
    const device = this.deviceFor(request);
    try {
      if (s.bmRequestType & RequestType.DIR_IN) return inResult(await device.controlTransferIn(setup, request.length));
      const routed = await this.routeStandardRequest(s.bmRequestType, s.bRequest, s.wValue, s.wIndex);
      if (routed) return routed;
      // an empty Uint8Array, not undefined, for requests without data (usb@3.1.0 throws on undefined)
      const data = this.outData(request);
      const r = await device.controlTransferOut(setup, data);
      return { status: transferStatus(r.status), bytesWritten: r.bytesWritten };
    } catch (e) {
      return this.transferFailure(e);
    }
  }

  /** State-changing standard requests go through WebUSB's own calls. */
  private async routeStandardRequest(bmRequestType: number, bRequest: number, wValue: number, wIndex: number)
    : Promise<TransferResult | undefined> {
    const stall = (e: unknown) => {
      const n = nameOf(e);
      if (n === 'NotFoundError' && !this.gone) return { status: TransferStatus.STALL } as TransferResult;
      throw e;
    };
    if (bmRequestType === 0x00 && bRequest === StandardRequest.SET_CONFIGURATION) {
      if ((wValue & 0xff) === 0) return { status: TransferStatus.STALL };
      await this.device.selectConfiguration(wValue & 0xff).catch(stall);
      return { status: TransferStatus.COMPLETED, bytesWritten: 0 };
    }
    if (bmRequestType === 0x01 && bRequest === StandardRequest.SET_INTERFACE) {
      await this.device.selectAlternateInterface(wIndex & 0xff, wValue & 0xff).catch(stall);
      return { status: TransferStatus.COMPLETED, bytesWritten: 0 };
    }
    if (bmRequestType === 0x02 && bRequest === StandardRequest.CLEAR_FEATURE && wValue === 0) {
      await this.device.clearHalt(wIndex & 0x80 ? 'in' : 'out', wIndex & 0x0f).catch(stall);
      return { status: TransferStatus.COMPLETED, bytesWritten: 0 };
    }
    return undefined;
  }

  private async isochronous(request: TransferRequest): Promise<TransferResult> {
    const ep = request.endpoint & 0x0f;
    const lengths = Array.from(request.isoPacketLengths ?? []);
    const device = this.deviceFor(request);
    try {
      let packets: IsoPacketResult[];
      if (request.endpoint & 0x80) {
        const r = await device.isochronousTransferIn(ep, lengths);
        packets = r.packets.map((p) => ({ status: transferStatus(p.status), data: bytes(p.data) }));
      } else {
        const data = this.outData(request);
        const r = await device.isochronousTransferOut(ep, data, lengths);
        packets = r.packets.map((p) => ({ status: transferStatus(p.status), length: p.bytesWritten }));
      }
      return { status: TransferStatus.COMPLETED, isoPackets: packets };
    } catch (e) {
      return this.transferFailure(e);
    }
  }

  /** The transfer status for a rejected WebUSB transfer. */
  private async transferFailure(e: unknown): Promise<Stashed> {
    const data = new Uint8Array(0);
    switch (nameOf(e)) {
      case 'AbortError': // closed, reset or reconfigured under it
        return { status: TransferStatus.CANCELLED, data };
      case 'TimeoutError': // platforms with transfer timeouts of their own (the usb package)
        return { status: TransferStatus.TIMED_OUT, data };
      case 'NotFoundError':
      case 'NetworkError':
        return { status: (await this.disconnected()) ? TransferStatus.NO_DEVICE : TransferStatus.ERROR, data };
      default:
        return { status: TransferStatus.ERROR, data };
    }
  }

  private packetSize(endpoint: number): number | undefined {
    const dir = endpoint & 0x80 ? 'in' : 'out';
    for (const i of this.device.configuration?.interfaces ?? []) {
      for (const e of i.alternate?.endpoints ?? []) {
        if (e.endpointNumber === (endpoint & 0x0f) && e.direction === dir) return e.packetSize;
      }
    }
    return undefined;
  }
}

function transferStatus(s: USBTransferStatus): TransferStatusCode {
  return s === 'ok' ? TransferStatus.COMPLETED : s === 'stall' ? TransferStatus.STALL : TransferStatus.OVERFLOW;
}

function bytes(view: DataView | null | undefined): Uint8Array {
  return view ? new Uint8Array(view.buffer, view.byteOffset, view.byteLength) : new Uint8Array(0);
}

function inResult(r: USBInTransferResultLike): Stashed {
  return { status: transferStatus(r.status), data: bytes(r.data) };
}

/** Serve up to `length` bytes from the oldest stashed result. */
function take(stash: Stashed[], length: number): TransferResult {
  const first = stash[0];
  if (first.data.length <= length) {
    stash.shift();
    return first;
  }
  stash[0] = { status: first.status, data: first.data.subarray(length) };
  return { status: TransferStatus.COMPLETED, data: first.data.subarray(0, length) };
}

function nameOf(e: unknown): string {
  if (e && typeof e === 'object' && 'name' in e) return String((e as { name: unknown }).name);
  return '';
}

function describe(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
