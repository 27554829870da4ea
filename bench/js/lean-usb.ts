/**
 * The reference row of the webusb benchmarks: the leanest object of
 * navigator.usb's shape that still does what the loops need and what
 * WebUSB promises about buffers. One loopback device, no state rules, no
 * argument checks, no packets:
 * - transferOut() takes a copy of the bytes when called (the spec's "get a
 *   copy of the buffer source"), and queues that copy;
 * - transferIn() answers with the oldest queued copy itself (a buffer of
 *   its own, as the spec's "new ArrayBuffer" asks) or, with the IN source
 *   on, a fresh buffer of bytes i & 0xff;
 * - controlTransferIn() answers GET_DESCRIPTOR(device) with a fresh copy.
 * So a round trip costs one allocation and one copy of the payload: what
 * any implementation has to pay. The simulated navigator.usb (SimUSB) is
 * measured against it (bench/RESULTS.md: "lean").
 * @module
 */
import { LOOPBACK_PRODUCT_ID, LOOPBACK_VENDOR_ID, LoopbackRequest } from '../../ts/sim/models/loopback.js';
import { resultScheduler, type ResultDelivery } from '../../ts/sim/webusb/delivery.js';
import type { USBControlTransferParameters, USBTransferStatus } from '../../ts/transports/webusb/types.js';

class InResult {
  constructor(readonly status: USBTransferStatus, readonly data: DataView) {}
}

class OutResult {
  constructor(readonly status: USBTransferStatus, readonly bytesWritten: number) {}
}

/** The device descriptor the loopback model answers with (18 bytes). */
const DEVICE_DESCRIPTOR = new Uint8Array([18, 1, 0x01, 0x02, 0, 0, 0, 64,
  LOOPBACK_VENDOR_ID & 0xff, LOOPBACK_VENDOR_ID >> 8, LOOPBACK_PRODUCT_ID & 0xff, LOOPBACK_PRODUCT_ID >> 8, 0, 1, 1, 2, 3, 1]);

/** One loopback device: bulk OUT 1 is echoed on bulk IN 1. */
export class LeanLoopbackDevice {
  readonly vendorId = LOOPBACK_VENDOR_ID;
  readonly productId = LOOPBACK_PRODUCT_ID;
  opened = false;
  private readonly queue: Uint8Array<ArrayBuffer>[] = [];
  private streaming = false;
  private pattern = new Uint8Array(0);
  private readonly settle: <T>(value: T) => Promise<T>;

  constructor(delivery: ResultDelivery) {
    const schedule = resultScheduler(delivery);
    this.settle = schedule
      ? <T>(value: T) => new Promise<T>((resolve) => schedule(() => resolve(value)))
      : <T>(value: T) => Promise.resolve(value);
  }

  async open(): Promise<void> {
    this.opened = true;
  }

  async claimInterface(): Promise<void> {}

  transferOut(endpointNumber: number, data: Uint8Array): Promise<OutResult> {
    void endpointNumber;
    this.queue.push(data.slice());
    return this.settle(new OutResult('ok', data.length));
  }

  transferIn(endpointNumber: number, length: number): Promise<InResult> {
    void endpointNumber;
    let data = this.queue.shift();
    if (!data && this.streaming) {
      if (this.pattern.length < length) this.pattern = Uint8Array.from({ length }, (_, i) => i & 0xff);
      data = this.pattern.slice(0, length);
    }
    if (!data) return Promise.reject(new Error('lean loopback: nothing queued (the loops never wait for data)'));
    return this.settle(new InResult('ok', new DataView(data.buffer)));
  }

  controlTransferIn(setup: USBControlTransferParameters, length: number): Promise<InResult> {
    void setup;
    const copy = DEVICE_DESCRIPTOR.slice(0, length);
    return this.settle(new InResult('ok', new DataView(copy.buffer)));
  }

  controlTransferOut(setup: USBControlTransferParameters): Promise<OutResult> {
    if (setup.requestType === 'vendor' && setup.request === LoopbackRequest.IN_SOURCE) this.streaming = setup.value === 1;
    return this.settle(new OutResult('ok', 0));
  }
}

/** navigator.usb with one lean loopback device. */
export class LeanUSB {
  private readonly device: LeanLoopbackDevice;

  constructor(options: { delivery?: ResultDelivery } = {}) {
    this.device = new LeanLoopbackDevice(options.delivery ?? 'microtask');
  }

  async getDevices(): Promise<LeanLoopbackDevice[]> {
    return [this.device];
  }

  addEventListener(): void {}

  removeEventListener(): void {}
}
