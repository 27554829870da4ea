/**
 * A transport that records what passes through it: every transfer, the
 * control-plane operations and the hotplug events of the transport it
 * wraps, told to a {@link CaptureTap}. It changes nothing else: the same
 * answers, the same errors, the same optional operations.
 *
 * The transport host's own taps (per program, in its request and
 * completion paths) are where captures come from; this wrapper sees the
 * same traffic one level lower, without knowing which program made it.
 * Tests use it to drive the recorder with real transfers, and a host
 * without taps can record through it.
 * @module
 */
import type { CaptureDevice, CaptureEvent, CaptureTap } from '../usb/capture/tap.js';
import { TransferStatus } from '../usb/constants.js';
import {
  errorCode, type RawDescriptors, type ResetOutcome, type Transport, type TransportDevice, type TransportHotplugEvent,
  type TransferCompletion, type TransferRequest,
} from './transport.js';

/** Wrap a transport so that everything it does is told to `tap`. */
export function captureTransport(transport: Transport, tap: CaptureTap): Transport {
  return new CapturingTransport(transport, tap);
}

class CapturingTransport implements Transport {
  readonly name: string;
  private readonly inner: Transport;
  private readonly tap: CaptureTap;
  private readonly wrapped = new WeakMap<TransportDevice, CapturingDevice>();

  constructor(inner: Transport, tap: CaptureTap) {
    this.inner = inner;
    this.tap = tap;
    this.name = inner.name;
    if (inner.close) this.close = () => inner.close!();
    // the webusb transport's rescan (after requestDevice on the page) passes through
    const rescan = (inner as { rescan?: () => Promise<void> }).rescan;
    if (rescan) (this as { rescan?: () => Promise<void> }).rescan = () => rescan.call(inner);
  }

  close?(): Promise<void>;

  async getDevices(): Promise<TransportDevice[]> {
    return (await this.inner.getDevices()).map((d) => this.wrap(d));
  }

  watch(listener: (event: TransportHotplugEvent) => void): () => void {
    return this.inner.watch((e) => {
      const device = this.wrap(e.device);
      this.tap.annotate(device.capture, { kind: e.type === 'connect' ? 'arrived' : 'left' });
      listener({ type: e.type, device });
    });
  }

  private wrap(device: TransportDevice): CapturingDevice {
    let w = this.wrapped.get(device);
    if (!w) {
      w = new CapturingDevice(device, this.tap);
      this.wrapped.set(device, w);
    }
    return w;
  }
}

/** One device of a capturing transport: the wrapped device's operations, each told to the tap. */
class CapturingDevice implements TransportDevice {
  /** The device as the capture names it (descriptors once read through readDescriptors). */
  readonly capture: CaptureDevice & { descriptors?: RawDescriptors };
  readDescriptors?: () => Promise<RawDescriptors>;
  kernelDriverActive?: (iface: number) => Promise<boolean>;
  detachKernelDriver?: (iface: number) => Promise<void>;
  attachKernelDriver?: (iface: number) => Promise<void>;
  cancel?: (request: TransferRequest) => boolean;
  private readonly inner: TransportDevice;
  private readonly tap: CaptureTap;

  constructor(inner: TransportDevice, tap: CaptureTap) {
    this.inner = inner;
    this.tap = tap;
    const { busNumber, deviceAddress, speed } = inner.location;
    this.capture = { busNumber, deviceAddress, speed, strings: inner.strings };
    if (inner.readDescriptors) {
      this.readDescriptors = async () => {
        const descriptors = await inner.readDescriptors!();
        this.capture.descriptors = descriptors;
        return descriptors;
      };
    }
    if (inner.kernelDriverActive) this.kernelDriverActive = (iface) => inner.kernelDriverActive!(iface);
    if (inner.detachKernelDriver) {
      this.detachKernelDriver = (iface) => this.told({ kind: 'detach_kernel_driver', interface: iface }, () => inner.detachKernelDriver!(iface));
    }
    if (inner.attachKernelDriver) {
      this.attachKernelDriver = (iface) => this.told({ kind: 'attach_kernel_driver', interface: iface }, () => inner.attachKernelDriver!(iface));
    }
    if (inner.cancel) this.cancel = (request) => inner.cancel!(request);
  }

  get location() {
    return this.inner.location;
  }

  get strings() {
    return this.inner.strings;
  }

  get supportsIsochronous() {
    return this.inner.supportsIsochronous;
  }

  open(): Promise<void> {
    return this.told({ kind: 'open' }, () => this.inner.open());
  }

  close(): Promise<void> {
    return this.told({ kind: 'close' }, () => this.inner.close());
  }

  getConfiguration(): number {
    return this.inner.getConfiguration();
  }

  setConfiguration(value: number): Promise<void> {
    return this.told({ kind: 'set_configuration', value }, () => this.inner.setConfiguration(value));
  }

  claimInterface(iface: number): Promise<void> {
    return this.told({ kind: 'claim', interface: iface }, () => this.inner.claimInterface(iface));
  }

  releaseInterface(iface: number): Promise<void> {
    return this.told({ kind: 'release', interface: iface }, () => this.inner.releaseInterface(iface));
  }

  setAlternateSetting(iface: number, alternate: number): Promise<void> {
    return this.told({ kind: 'set_alternate', interface: iface, alternate }, () => this.inner.setAlternateSetting(iface, alternate));
  }

  clearHalt(endpoint: number): Promise<void> {
    return this.told({ kind: 'clear_halt', endpoint }, () => this.inner.clearHalt(endpoint));
  }

  reset(): Promise<ResetOutcome> {
    return this.told({ kind: 'reset' }, () => this.inner.reset());
  }

  transfer(request: TransferRequest): TransferCompletion | Promise<TransferCompletion> {
    this.tap.submitted(this.capture, request);
    let result: TransferCompletion | Promise<TransferCompletion>;
    try {
      result = this.inner.transfer(request);
    } catch (e) {
      this.tap.completed(this.capture, request, { status: TransferStatus.ERROR });
      throw e;
    }
    if (typeof (result as Promise<TransferCompletion>).then !== 'function') {
      this.tap.completed(this.capture, request, result as TransferCompletion);
      return result;
    }
    return (result as Promise<TransferCompletion>).then((r) => {
      this.tap.completed(this.capture, request, r);
      return r;
    }, (e) => {
      this.tap.completed(this.capture, request, { status: TransferStatus.ERROR });
      throw e;
    });
  }

  /** Run a control-plane operation and tell the tap how it ended. */
  private async told<T>(event: CaptureEvent, run: () => Promise<T>): Promise<T> {
    try {
      const result = await run();
      this.tap.annotate(this.capture, event, 0);
      return result;
    } catch (e) {
      this.tap.annotate(this.capture, event, errorCode(e));
      throw e;
    }
  }
}
