/**
 * The `usb` package's (3.x) device object, made to behave as the WebUSB
 * shape the shared adapter (../webusb/device.ts) expects, with libusb's
 * needs met where the binding's own WebUSB methods fall short:
 *
 * - Timeouts. The binding's WebUSB methods time out after 1 s by default,
 *   and its native calls treat 0 as "no time at all". libusb enforces a
 *   program's timeouts itself (the host completes a timed-out transfer at
 *   once), so the binding only needs a timeout of its own to let go of the
 *   endpoint: control and OUT transfers get the program's timeout plus
 *   {@link GRACE_MS} (or none), IN transfers run in slices (the program's
 *   timeout plus the grace, at most {@link FIRST_SLICE_MAX_MS}, then
 *   {@link SLICE_MS}), resubmitted until data comes or the transfer is
 *   abandoned (interface released, device closed, reset, reconfigured, halt
 *   cleared). An IN URB that times out with no data loses nothing: the
 *   device keeps its data until the next one is queued.
 * - One transfer per endpoint. The binding refuses a second transfer on an
 *   endpoint that has one pending ("endpoint not found"), so transfers queue
 *   here, per endpoint, in order. A queued OUT transfer that is cancelled is
 *   removed before it reaches the device.
 * - Stalls reject with an error in the binding; WebUSB reports them as a
 *   'stall' status. Other errors become DOMExceptions with the names the
 *   adapter maps to libusb codes.
 * - controlTransferOut without data throws a TypeError in usb@3.1.0 (its
 *   wrapper reads `data.buffer`): we call the native method with an empty
 *   array.
 * - The binding reads a view of a SharedArrayBuffer as it is, so OUT data
 *   goes to it straight from the program's buffer in wasm memory.
 * - The binding's calls that change its device object (open, close, claim,
 *   release, alternate settings, and reading `configuration(s)`) fail while
 *   any transfer on that object is pending ("The same native value cannot be
 *   borrowed mutably while another borrow is active"). They run here in an
 *   exclusive section: renewals of IN transfers pause (a paused IN transfer
 *   has no URB queued, so the device keeps its data), transfers in flight
 *   end (IN within one slice), the call runs, transfers resume.
 * - `configuration(s)` make the binding read string descriptors: the
 *   configurations are read once, when the device is opened, and the active
 *   configuration comes from sysfs on Linux, else from a cache kept current.
 * - Every asynchronous call into the binding is counted (./native-calls.ts):
 *   the transport must not let its thread exit while one is pending.
 * @module
 */
import type { TransferRequest } from '../transport.js';
import type { USBTransferCalls } from '../webusb/device.js';
import type {
  USBConfigurationLike, USBControlTransferParameters, USBDeviceLike, USBDirection,
  USBInTransferResultLike, USBIsochronousInTransferResultLike, USBIsochronousOutTransferResultLike,
  USBOutTransferResultLike,
} from '../webusb/types.js';
import { NativeCalls } from './native-calls.js';
import type { SysfsDevice } from './sysfs.js';

/** The `usb` package's device object: WebUSB's shape, its native calls and its extras. */
export interface UsbPackageDevice extends USBDeviceLike {
  /** "001" on Linux; platform-specific elsewhere. */
  readonly bus: string;
  readonly address: number;
  readonly ports: number[];
  readonly speed?: string;
  /** Stable identity of the device while it is connected (a new object is made per listing). */
  readonly handle: string;
  nativeControlTransferIn(setup: USBControlTransferParameters, timeout: number, length: number): Promise<Uint8Array | null>;
  nativeControlTransferOut(setup: USBControlTransferParameters, timeout: number, data?: Uint8Array): Promise<number>;
  nativeTransferIn(endpointNumber: number, timeout: number, length: number): Promise<Uint8Array | null>;
  nativeTransferOut(endpointNumber: number, timeout: number, data: Uint8Array): Promise<number>;
  detachKernelDriver(interfaceNumber: number): Promise<void>;
  attachKernelDriver(interfaceNumber: number): Promise<void>;
}

/** What the binding's own timeout adds to a program's, so libusb's fires first. */
export const GRACE_MS = 100;
/** How long one IN submission to the binding lasts before it is renewed. */
export const SLICE_MS = 1000;
/**
 * The longest first submission of an IN transfer with a timeout: the
 * program's timeout plus the grace, up to this. (A URB that times out after
 * receiving some full packets loses them in the binding, so a slice should
 * be long; calls that need the device object to themselves wait for it, so
 * not too long.)
 */
export const FIRST_SLICE_MAX_MS = 5000;
/** The binding's "no timeout": its native calls take a u32 of milliseconds. */
const FOREVER_MS = 0xffffffff;
/** How long abandoning an endpoint, or an exclusive call, waits for binding calls to end. */
const QUIESCE_LIMIT_MS = FIRST_SLICE_MAX_MS + 1000;

/** A transfer waiting for, or holding, its endpoint. */
interface Entry {
  request?: TransferRequest;
  epoch: number;
  started: boolean;
  cancelled: boolean;
  reject?: (e: unknown) => void;
}

/** One endpoint's queue. */
class Pipe {
  /** Settles when the last queued transfer has. */
  tail: Promise<unknown> = Promise.resolve();
  /** Bumped when the endpoint is abandoned: transfers queued before stop. */
  epoch = 0;
  readonly entries: Entry[] = [];
}

type Failure = 'stall' | 'timeout' | 'gone' | 'other';

/** A DOMException the shared adapter understands. */
function domError(message: string, name: string): Error {
  return new DOMException(message, name);
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** The binding reports errors as plain Errors; sort them by what they say. */
export function classify(message: string): Failure {
  if (/\bStall\b|endpoint stalled/.test(message)) return 'stall';
  if (/\bCancelled\b|timed out|errno 110\b/.test(message)) return 'timeout';
  if (/Disconnected|device disconnected|errno 19\b|No such device/i.test(message)) return 'gone';
  return 'other';
}

/** The DOMException name for a control-plane failure of the binding. */
export function errorName(message: string): string {
  if (/errno 13\b|permission denied|access denied/i.test(message)) return 'SecurityError';
  if (/errno 16\b|busy|already/i.test(message)) return 'InvalidStateError';
  if (/not implemented|unsupported/i.test(message)) return 'NotSupportedError';
  if (/invalid argument|errno 22\b/i.test(message)) return 'InvalidAccessError';
  if (/Disconnected|disconnected|errno 19\b|not found|invalid configuration|errno 2\b/i.test(message)) return 'NotFoundError';
  return 'OperationError';
}

const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class BindingDevice implements USBDeviceLike {
  readonly raw: UsbPackageDevice;
  private readonly sysfs?: SysfsDevice;
  private readonly onLost: () => void;
  /** Every asynchronous call into the binding goes through it (the transport's, shared by its devices). */
  private readonly calls: NativeCalls;
  private readonly pipes = new Map<number, Pipe>();
  private cachedConfigurations?: readonly USBConfigurationLike[];
  /** Active configuration where sysfs cannot say (0 = unconfigured, undefined = unknown). */
  private activeValue?: number;
  /** Set during an exclusive section: transfers wait for it before they (re)start. */
  private paused?: Promise<void>;
  private exclusiveChain: Promise<unknown> = Promise.resolve();
  /** Native transfer calls in flight, and who waits for there to be none. */
  private inflight = 0;
  private readonly idleWaiters: (() => void)[] = [];

  constructor(raw: UsbPackageDevice, options: { sysfs?: SysfsDevice; onLost: () => void; calls?: NativeCalls }) {
    this.raw = raw;
    this.sysfs = options.sysfs;
    this.onLost = options.onLost;
    this.calls = options.calls ?? new NativeCalls();
  }

  /** The transfer calls of this device, for one libusb request (they need its timeout). */
  forRequest(request: TransferRequest): USBTransferCalls {
    return {
      controlTransferIn: (setup, length) => this.controlIn(request, setup, length),
      controlTransferOut: (setup, data) => this.controlOut(request, setup, data),
      transferIn: (endpointNumber, length) => this.bulkIn(request, endpointNumber, length),
      transferOut: (endpointNumber, data) => this.bulkOut(request, endpointNumber, data),
      isochronousTransferIn: () => this.isochronousTransferIn(),
      isochronousTransferOut: () => this.isochronousTransferOut(),
    };
  }

  // ---- identity ------------------------------------------------------------

  get usbVersionMajor() { return this.raw.usbVersionMajor; }
  get usbVersionMinor() { return this.raw.usbVersionMinor; }
  get vendorId() { return this.raw.vendorId; }
  get productId() { return this.raw.productId; }
  // the binding opens the device to read strings sysfs does not have; that can fail
  get manufacturerName() { return this.quietly(() => this.raw.manufacturerName); }
  get productName() { return this.quietly(() => this.raw.productName); }
  get serialNumber() { return this.quietly(() => this.raw.serialNumber); }
  get opened() { return this.raw.opened; }

  get configuration(): USBConfigurationLike | null {
    // without sysfs: the binding says (it opens the device for that) until the device is ours
    if (!this.sysfs && this.activeValue === undefined && this.inflight === 0) {
      this.activeValue = this.quietly(() => this.raw.configuration?.configurationValue);
    }
    const value = this.sysfs ? this.sysfs.configurationValue() : this.activeValue;
    if (value === undefined || value === 0) return null;
    // the value costs a file read; the interfaces (binding I/O) only when asked for
    const all = () => this.configurations;
    return {
      configurationValue: value,
      get interfaces() {
        return all().find((c) => c.configurationValue === value)?.interfaces ?? [];
      },
    };
  }

  get configurations(): readonly USBConfigurationLike[] {
    return this.cachedConfigurations ?? [];
  }

  /** Read what `configuration(s)` answer (inside an exclusive section: the binding borrows mutably). */
  private refreshConfigurations(): void {
    this.cachedConfigurations ??= this.quietly(() => this.raw.configurations);
    if (!this.sysfs) this.activeValue = this.quietly(() => this.raw.configuration?.configurationValue) ?? 0;
  }

  private quietly<T>(read: () => T): T | undefined {
    try {
      return read() ?? undefined;
    } catch {
      return undefined;
    }
  }

  // ---- control plane ---------------------------------------------------------

  open() {
    return this.exclusive(async () => {
      await this.call(() => this.raw.open());
      this.refreshConfigurations();
    });
  }
  close() { return this.exclusive(() => this.call(() => this.raw.close())); }
  selectConfiguration(value: number) {
    return this.exclusive(async () => {
      await this.call(() => this.raw.selectConfiguration(value));
      this.activeValue = value;
    });
  }
  claimInterface(iface: number) { return this.exclusive(() => this.call(() => this.raw.claimInterface(iface))); }
  releaseInterface(iface: number) { return this.exclusive(() => this.call(() => this.raw.releaseInterface(iface))); }
  selectAlternateInterface(iface: number, alternate: number) {
    return this.exclusive(() => this.call(() => this.raw.selectAlternateInterface(iface, alternate)));
  }
  clearHalt(direction: USBDirection, endpointNumber: number) {
    return this.call(() => this.raw.clearHalt(direction, endpointNumber));
  }
  reset() {
    return this.exclusive(async () => {
      await this.call(() => this.raw.reset());
      this.refreshConfigurations();
    });
  }

  /**
   * Run a call that changes the binding's device object: with no transfer
   * in flight on it (see the module notes). Waits at most
   * {@link QUIESCE_LIMIT_MS} for them; a transfer that takes longer (an OUT
   * transfer the device never takes, without a timeout) makes the call fail.
   */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.exclusiveChain.then(async () => {
      let resume!: () => void;
      this.paused = new Promise<void>((r) => (resume = r));
      try {
        await this.idle(QUIESCE_LIMIT_MS);
        return await fn();
      } finally {
        this.paused = undefined;
        resume();
      }
    });
    this.exclusiveChain = run.catch(() => {});
    return run;
  }

  /** Resolves when no native transfer call is in flight (or after `ms`). */
  private idle(ms: number): Promise<void> {
    if (this.inflight === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.idleWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** A native transfer call, counted (exclusive sections wait for none to be in flight). */
  private async native<T>(call: () => Promise<T>): Promise<T> {
    while (this.paused) await this.paused;
    this.inflight++;
    try {
      return await this.calls.track(call);
    } finally {
      if (--this.inflight === 0) for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  /** Run a binding call; its failure becomes a DOMException the adapter maps. */
  async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await this.calls.track(fn);
    } catch (e) {
      const message = messageOf(e);
      if (classify(message) === 'gone' || !this.present()) this.onLost();
      throw domError(message, errorName(message));
    }
  }

  /** Any other asynchronous call into the binding (kernel drivers), counted like the rest. */
  track<T>(fn: () => Promise<T>): Promise<T> {
    return this.calls.track(fn);
  }

  /** Whether the device is still there (false only when the platform can say so). */
  present(): boolean {
    return this.sysfs ? this.sysfs.present() : true;
  }

  // ---- transfers -------------------------------------------------------------

  /** The binding's timeout for a transfer that is not renewed: the program's plus a grace, or none. */
  private timeoutFor(request: TransferRequest | undefined): number {
    const t = request?.timeout ?? 0;
    return t > 0 ? t + GRACE_MS : FOREVER_MS;
  }

  /** A transfer failed in the binding: the WebUSB answer for it (or a throw). */
  private failed(e: unknown): { status: 'stall' } {
    const message = messageOf(e);
    const kind = classify(message);
    if (kind === 'stall') return { status: 'stall' };
    if (kind === 'timeout') throw domError(message, 'TimeoutError');
    if (kind === 'gone' || !this.present()) {
      this.onLost();
      throw domError(message, 'NotFoundError');
    }
    throw domError(message, 'OperationError');
  }

  controlTransferIn(setup: USBControlTransferParameters, length: number): Promise<USBInTransferResultLike> {
    return this.controlIn(undefined, setup, length);
  }

  controlTransferOut(setup: USBControlTransferParameters, data?: BufferSource): Promise<USBOutTransferResultLike> {
    return this.controlOut(undefined, setup, data);
  }

  transferIn(endpointNumber: number, length: number): Promise<USBInTransferResultLike> {
    return this.bulkIn(undefined, endpointNumber, length);
  }

  transferOut(endpointNumber: number, data: BufferSource): Promise<USBOutTransferResultLike> {
    return this.bulkOut(undefined, endpointNumber, data);
  }

  private async controlIn(request: TransferRequest | undefined, setup: USBControlTransferParameters, length: number)
    : Promise<USBInTransferResultLike> {
    try {
      const timeout = this.timeoutFor(request);
      const data = await this.native(() => this.raw.nativeControlTransferIn(setup, timeout, length));
      if (!data) return { status: 'stall' };
      return { status: 'ok', data: new DataView(data.buffer, data.byteOffset, data.byteLength) };
    } catch (e) {
      return this.failed(e);
    }
  }

  private async controlOut(request: TransferRequest | undefined, setup: USBControlTransferParameters, data?: BufferSource)
    : Promise<USBOutTransferResultLike> {
    try {
      // never undefined: usb@3.1.0's own controlTransferOut throws a TypeError on it
      const timeout = this.timeoutFor(request);
      const n = await this.native(() => this.raw.nativeControlTransferOut(setup, timeout, bytesOf(data)));
      return { status: 'ok', bytesWritten: n };
    } catch (e) {
      return { ...this.failed(e), bytesWritten: 0 };
    }
  }

  private bulkIn(request: TransferRequest | undefined, endpointNumber: number, length: number): Promise<USBInTransferResultLike> {
    const first = request?.timeout ? Math.min(request.timeout + GRACE_MS, FIRST_SLICE_MAX_MS) : SLICE_MS;
    return this.queue(request, 0x80 | endpointNumber, async (entry, pipe) => {
      for (let slice = first; ; slice = SLICE_MS) {
        if (pipe.epoch !== entry.epoch) throw domError('the transfer was abandoned', 'AbortError');
        try {
          const data = await this.native(() => {
            if (pipe.epoch !== entry.epoch) throw domError('the transfer was abandoned', 'AbortError');
            return this.raw.nativeTransferIn(endpointNumber, slice, length);
          });
          if (!data) return { status: 'stall' };
          return { status: 'ok', data: new DataView(data.buffer, data.byteOffset, data.byteLength) };
        } catch (e) {
          if (e instanceof DOMException) throw e; // abandoned while paused
          // the binding's slice ran out: nothing was received, go on waiting
          if (classify(messageOf(e)) === 'timeout') continue;
          return this.failed(e);
        }
      }
    });
  }

  private bulkOut(request: TransferRequest | undefined, endpointNumber: number, data: BufferSource)
    : Promise<USBOutTransferResultLike> {
    const timeout = this.timeoutFor(request);
    return this.queue(request, endpointNumber, async (entry, pipe) => {
      if (pipe.epoch !== entry.epoch) throw domError('the transfer was abandoned', 'AbortError');
      try {
        const n = await this.native(() => this.raw.nativeTransferOut(endpointNumber, timeout, bytesOf(data)));
        return { status: 'ok', bytesWritten: n };
      } catch (e) {
        return { ...this.failed(e), bytesWritten: 0 };
      }
    });
  }

  /** usb@3.1.0 answers "method not implemented" for both: not worth a call. */
  isochronousTransferIn(): Promise<USBIsochronousInTransferResultLike> {
    return Promise.reject(domError('the usb package does not implement isochronous transfers', 'NotSupportedError'));
  }

  isochronousTransferOut(): Promise<USBIsochronousOutTransferResultLike> {
    return Promise.reject(domError('the usb package does not implement isochronous transfers', 'NotSupportedError'));
  }

  // ---- per-endpoint queues ---------------------------------------------------

  private pipe(endpoint: number): Pipe {
    let p = this.pipes.get(endpoint);
    if (!p) {
      p = new Pipe();
      this.pipes.set(endpoint, p);
    }
    return p;
  }

  /** Run `job` when the endpoint is free; jobs on one endpoint run in order. */
  private queue<T>(request: TransferRequest | undefined, endpoint: number, job: (entry: Entry, pipe: Pipe) => Promise<T>)
    : Promise<T> {
    const pipe = this.pipe(endpoint);
    const entry: Entry = { request, epoch: pipe.epoch, started: false, cancelled: false };
    pipe.entries.push(entry);
    const run = pipe.tail.then(() => {
      entry.started = true;
      if (entry.cancelled) throw domError('cancelled before it was sent', 'AbortError');
      return job(entry, pipe);
    });
    const done = run.finally(() => pipe.entries.splice(pipe.entries.indexOf(entry), 1));
    pipe.tail = done.catch(() => {});
    return new Promise<T>((resolve, reject) => {
      entry.reject = reject;
      done.then(resolve, reject);
    });
  }

  /** Take an OUT transfer that has not reached the binding off its queue. True if it was. */
  cancelQueued(request: TransferRequest): boolean {
    if (request.endpoint & 0x80) return false;
    for (const pipe of this.pipes.values()) {
      const entry = pipe.entries.find((e) => e.request === request);
      if (entry && !entry.started && !entry.cancelled) {
        entry.cancelled = true;
        entry.reject?.(domError('cancelled before it was sent', 'AbortError'));
        return true;
      }
    }
    return false;
  }

  /**
   * Abandon the transfers on these endpoints (all when omitted) and wait,
   * for a bounded time, until the binding has let go of them: it holds the
   * interface until its call ends.
   */
  async quiesce(endpoints?: number[]): Promise<void> {
    const pipes = endpoints ? endpoints.map((e) => this.pipes.get(e)).filter((p): p is Pipe => !!p) : [...this.pipes.values()];
    for (const p of pipes) p.epoch++;
    await Promise.race([Promise.all(pipes.map((p) => p.tail)), delay(QUIESCE_LIMIT_MS)]);
  }

  /** Endpoint addresses of an interface, in any alternate setting of the active configuration. */
  endpointsOf(iface: number): number[] {
    const i = this.configuration?.interfaces.find((x) => x.interfaceNumber === iface);
    const out = new Set<number>();
    for (const a of i?.alternates ?? []) {
      for (const e of a.endpoints) out.add((e.direction === 'in' ? 0x80 : 0) | e.endpointNumber);
    }
    return [...out];
  }
}

/** A Uint8Array over any BufferSource, without copying. */
function bytesOf(data: BufferSource | undefined): Uint8Array {
  if (!data) return new Uint8Array(0);
  if (data instanceof Uint8Array) return data;
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return new Uint8Array(data);
}
