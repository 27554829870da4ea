/**
 * The calls of one simulated USBDevice that have not been answered yet,
 * and how answers reach the caller: at once, or in a task of their own
 * (SimUSB's resultDelivery). A disconnect rejects every call still open; a
 * state change aborts the transfers of the interface it touches.
 * @module
 */
import type { TransferCompletion, TransferRequest } from '../../transports/transport.js';
import type { TaskScheduler } from './delivery.js';

/** A bulk, interrupt or isochronous transfer on its way to the device model. */
export interface InFlightTransfer {
  request: TransferRequest;
  /** index (in the configuration) of the interface the endpoint belongs to */
  interfaceIndex: number;
}

/** Builds a call's result from the device model's answer (and the call's length); throws Chrome's exception for a fatal status. */
export type ResultOf<T> = (r: TransferCompletion, length: number) => T;

/** A call whose answer is not delivered yet. */
interface OpenCall {
  reject: (e: unknown) => void;
  transfer?: InFlightTransfer;
}

/** Answers a call: once only, and not after a disconnect answered it. */
type Finish = (ok: boolean, value: unknown) => void;

/** The open calls of one USBDevice (see the module's description). */
export class DeviceCalls {
  private readonly open = new Set<OpenCall>();

  /** `scheduler()`: the navigator.usb's task scheduler when results are delivered as tasks. */
  constructor(private readonly scheduler: () => TaskScheduler | undefined) {}

  /**
   * Answer a call with `result` of what the device model answered (`r`):
   * at once when it answered at once (nothing can come between), else once
   * it does, unless a disconnect rejects the call first. A transfer
   * (`request`, on the interface at `interfaceIndex`) that waits may be
   * aborted by state changes meanwhile.
   */
  answer<T>(r: TransferCompletion | Promise<TransferCompletion>, result: ResultOf<T>, length: number,
    request?: TransferRequest, interfaceIndex = -1): Promise<T> {
    if (r instanceof Promise) {
      // (registered only when it waits: most transfers complete at once)
      return this.track(() => r.then((c) => result(c, length)), request && { request, interfaceIndex });
    }
    try {
      return this.deliver(true, result(r, length));
    } catch (e) {
      return this.deliver(false, e);
    }
  }

  /** Run the asynchronous part of a call; a disconnect rejects it with NotFoundError first. */
  track<T>(run: () => Promise<T>, transfer?: InFlightTransfer): Promise<T> {
    return this.call((finish) => void run().then((v) => finish(true, v), (e) => finish(false, e)), transfer);
  }

  /** The transfers waiting on the device model. */
  transfers(): InFlightTransfer[] {
    const out: InFlightTransfer[] = [];
    for (const c of this.open) if (c.transfer) out.push(c.transfer);
    return out;
  }

  /** Reject every open call (the device is gone). */
  rejectAll(error: () => unknown): void {
    const calls = [...this.open];
    this.open.clear();
    for (const c of calls) c.reject(error());
  }

  /** A call answered already: delivered at once, or in a task of its own. */
  private deliver<T>(ok: boolean, value: unknown): Promise<T> {
    const schedule = this.scheduler();
    if (!schedule) return ok ? Promise.resolve(value as T) : Promise.reject(value);
    return new Promise<T>((resolve, reject) => schedule(ok ? () => resolve(value as T) : () => reject(value)));
  }

  /** A call in progress: `work` starts it and answers through `finish`. */
  private call<T>(work: (finish: Finish) => void, transfer?: InFlightTransfer): Promise<T> {
    const schedule = this.scheduler();
    return new Promise<T>((resolve, reject) => {
      const entry: OpenCall = { reject, transfer };
      this.open.add(entry);
      work((ok, value) => {
        if (!this.open.delete(entry)) return;
        if (!schedule) (ok ? resolve(value as T) : reject(value));
        else schedule(ok ? () => resolve(value as T) : () => reject(value));
      });
    });
  }
}
