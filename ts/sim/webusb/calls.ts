/**
 * The calls of one simulated USBDevice that have not been answered yet,
 * and how answers reach the caller: at once, or in a task of their own
 * (SimUSB's resultDelivery).
 *
 * Two kinds, as in Chrome: a state change or another call that waits
 * (track()) is rejected with NotFoundError when the device goes; a transfer
 * (answer()) is not: the device fails it as the kernel fails its URB, and
 * a state change may end it first (kill()).
 * @module
 */
import { TransferStatus, type TransferStatusCode } from '../../usb/constants.js';
import type { TransferCompletion, TransferRequest } from '../../transports/transport.js';
import type { TaskScheduler } from './delivery.js';
import { nextTask } from './device-state.js';

/** A bulk, interrupt or isochronous transfer waiting on the device model. */
export interface InFlightTransfer {
  request: TransferRequest;
  /** index (in the configuration) of the interface the endpoint belongs to */
  interfaceIndex: number;
  /** Set when a state change or a disconnect ended it: the status it ends with, and whether Chrome hears of it a task later. */
  killed?: { status: TransferStatusCode; later: boolean };
}

/** Builds a call's result from the device model's answer (and the call's length); throws Chrome's exception for a fatal status. */
export type ResultOf<T> = (r: TransferCompletion, length: number) => T;

/** A call a disconnect rejects. */
interface OpenCall {
  reject: (e: unknown) => void;
}

/** The open calls of one USBDevice (see the module's description). */
export class DeviceCalls {
  private readonly open = new Set<OpenCall>();
  private readonly waiting = new Set<InFlightTransfer>();

  /** `scheduler()`: the navigator.usb's task scheduler when results are delivered as tasks. */
  constructor(private readonly scheduler: () => TaskScheduler | undefined) {}

  /**
   * Answer a transfer with `result` of what the device model answered
   * (`r`): at once when it answered at once (nothing can come between),
   * else once it does. `request` (on the interface at `interfaceIndex`),
   * for a transfer that waits: a state change may end it meanwhile
   * (kill()), and it then answers with the status it was killed with.
   */
  answer<T>(r: TransferCompletion | Promise<TransferCompletion>, result: ResultOf<T>, length: number,
    request?: TransferRequest, interfaceIndex = -1): Promise<T> {
    if (!(r instanceof Promise)) {
      try {
        return this.deliver(true, result(r, length));
      } catch (e) {
        return this.deliver(false, e);
      }
    }
    // (built and registered only when it waits: most transfers complete at once)
    const t: InFlightTransfer | undefined = request && { request, interfaceIndex };
    if (t) this.waiting.add(t);
    const settled = r.then(async (c): Promise<T> => {
      if (t) this.waiting.delete(t);
      if (!t?.killed) return result(c, length);
      // a transfer the kernel killed under a state change is reaped after the call has answered
      if (t.killed.later) await nextTask();
      return result({ status: t.killed.status }, length);
    }, (e) => {
      if (t) this.waiting.delete(t);
      throw e;
    });
    return this.later(settled);
  }

  /** Reject a call as the platform answers it (after the call, as a task when results are delivered as tasks). */
  fail<T>(error: unknown): Promise<T> {
    return this.later(Promise.reject(error));
  }

  /** Run the asynchronous part of a call; a disconnect rejects it with NotFoundError first (rejectAll()). */
  track<T>(run: () => Promise<T>): Promise<T> {
    const schedule = this.scheduler();
    return new Promise<T>((resolve, reject) => {
      const entry: OpenCall = { reject };
      this.open.add(entry);
      const finish = (ok: boolean, value: unknown) => {
        if (!this.open.delete(entry)) return;
        if (!schedule) (ok ? resolve(value as T) : reject(value));
        else schedule(ok ? () => resolve(value as T) : () => reject(value));
      };
      run().then((v) => finish(true, v), (e) => finish(false, e));
    });
  }

  /**
   * End the waiting transfers `which` picks: they answer with `status` (a
   * task later when `later`). Returns their requests, for the device model
   * to cancel.
   */
  kill(which: (t: InFlightTransfer) => boolean, status: TransferStatusCode = TransferStatus.ERROR,
    later = status === TransferStatus.ERROR): TransferRequest[] {
    const killed: TransferRequest[] = [];
    for (const t of this.waiting) {
      if (!which(t)) continue;
      t.killed = { status, later };
      killed.push(t.request);
    }
    return killed;
  }

  /** Reject every call track() holds (the device is gone). */
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

  /** A call answered later: as soon as `settled` settles, or in a task of its own after that. */
  private later<T>(settled: Promise<T>): Promise<T> {
    const schedule = this.scheduler();
    if (!schedule) return settled;
    return new Promise<T>((resolve, reject) => {
      settled.then((v) => schedule(() => resolve(v)), (e) => schedule(() => reject(e)));
    });
  }
}
