/**
 * Audit events: what each program did to which device, and how it went, so
 * an IDE can show its user what their code touched. The transport host emits
 * one per open, close, claim, release, reset, configuration or alternate
 * setting change and kernel-driver call, denials included.
 * @module
 */
import { libusbErrorName } from '../usb/constants.js';

/** What a program did (the libusb call, in its words: libusb_claim_interface is 'claim'). */
export type AuditAction =
  | 'open' | 'close' | 'claim' | 'release' | 'reset' | 'set_configuration' | 'set_alternate'
  | 'kernel_driver_active' | 'detach_kernel_driver' | 'attach_kernel_driver';

/** The device an event is about. */
export interface AuditDevice {
  /** idVendor. */
  vendorId: number;
  /** idProduct. */
  productId: number;
  /** Its bus. */
  busNumber: number;
  /** Its address on the bus. */
  deviceAddress: number;
  /** iSerialNumber's string, when it has one. */
  serialNumber?: string;
}

/** One operation a program tried on a device, and how it went. */
export interface AuditEvent {
  /** Milliseconds since the epoch. */
  time: number;
  /** The program's id (RunningProgram.id). */
  program: string;
  /** The device, when the request named one the host knows. */
  device?: AuditDevice;
  /** The operation. */
  action: AuditAction;
  /** The request's arguments in words ("interface 0", "configuration 1"). */
  detail: string;
  /** 'SUCCESS', or the libusb error name the program got (LIBUSB_ERROR_ACCESS, ...). */
  outcome: string;
}

/** The outcome field for a libusb status code. */
export function auditOutcome(status: number): string {
  return status >= 0 ? 'SUCCESS' : libusbErrorName(status);
}

/** vid:pid and place, for messages. */
export function describeDevice(d: AuditDevice | undefined): string {
  if (!d) return 'an unknown device';
  const hex = (n: number) => n.toString(16).padStart(4, '0');
  return `${hex(d.vendorId)}:${hex(d.productId)} (bus ${d.busNumber} address ${d.deviceAddress})`;
}

/**
 * Audit events as an async iterator, fed by push(). Events wait in a queue
 * until read; end() finishes every iteration.
 */
export class AuditFeed implements AsyncIterable<AuditEvent> {
  private readonly queue: AuditEvent[] = [];
  private readonly waiting: ((r: IteratorResult<AuditEvent>) => void)[] = [];
  private ended = false;

  push(event: AuditEvent): void {
    if (this.ended) return;
    const w = this.waiting.shift();
    if (w) w({ value: event, done: false });
    else this.queue.push(event);
  }

  end(): void {
    this.ended = true;
    for (const w of this.waiting.splice(0)) w({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterator<AuditEvent> {
    return {
      next: () => {
        const e = this.queue.shift();
        if (e) return Promise.resolve({ value: e, done: false });
        if (this.ended) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => this.waiting.push(resolve));
      },
      return: () => {
        this.end();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}
