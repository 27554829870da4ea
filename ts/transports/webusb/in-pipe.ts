/**
 * One IN endpoint of a WebUSB device as a stream. WebUSB cannot cancel a
 * transfer, so WebUSB transfers (issued in order, answered in order) feed
 * libusb transfers (waiting in order): when libusb gives up on one, its
 * WebUSB transfer stays and its answer goes to the next libusb transfer on
 * the endpoint, which is what a cancelled URB amounts to on Linux (the data
 * would have stayed on the device).
 * @module
 */
import { TransferStatus, type TransferStatusCode } from '../../usb/constants.js';
import type { TransferCompletion, TransferRequest } from '../transport.js';

/** One answer of a WebUSB IN transfer. */
export interface InAnswer {
  status: TransferStatusCode;
  data: Uint8Array;
}

interface Waiter {
  request: TransferRequest;
  resolve: (r: TransferCompletion) => void;
}

/**
 * One IN endpoint as a stream: WebUSB transfers (issued in order, answered
 * in order) feed libusb transfers (waiting in order).
 */
export class InPipe {
  /** answers that arrived while no libusb transfer waited */
  private readonly answers: InAnswer[] = [];
  private readonly waiting: Waiter[] = [];
  /** WebUSB transfers issued and not answered yet */
  private outstanding = 0;

  /** `issue` starts a WebUSB transfer for `request` and calls `answered` with its answer, whatever it is. */
  constructor(private readonly issue: (request: TransferRequest, answered: (a: InAnswer) => void) => void) {}

  submit(request: TransferRequest): TransferCompletion | Promise<TransferCompletion> {
    if (this.answers.length) return take(this.answers, request.length); // nobody waits when answers are kept
    return new Promise((resolve) => {
      this.waiting.push({ request, resolve });
      // a WebUSB transfer left over from a cancelled libusb transfer serves this one
      if (this.outstanding >= this.waiting.length) return;
      this.outstanding++;
      this.issue(request, this.answered);
    });
  }

  /** libusb gave up on a transfer: it leaves the queue, its WebUSB transfer stays. */
  abandon(request: TransferRequest): void {
    const i = this.waiting.findIndex((w) => w.request === request);
    if (i >= 0) this.waiting.splice(i, 1)[0].resolve({ status: TransferStatus.CANCELLED });
  }

  /** Forget kept data (clear halt). */
  flush(): void {
    this.answers.length = 0;
  }

  private readonly answered = (a: InAnswer): void => {
    this.outstanding--;
    // a failure nobody waits for means nothing to the next transfer (it will see its own)
    if (!this.waiting.length && a.status !== TransferStatus.COMPLETED && !a.data.length) return;
    this.answers.push(a);
    while (this.waiting.length && this.answers.length) {
      const w = this.waiting.shift()!;
      w.resolve(take(this.answers, w.request.length));
    }
  };
}

/** Serve up to `length` bytes from the oldest kept answer. */
function take(answers: InAnswer[], length: number): TransferCompletion {
  const first = answers[0];
  if (first.data.length <= length) {
    answers.shift();
    return first;
  }
  answers[0] = { status: first.status, data: first.data.subarray(length) };
  return { status: TransferStatus.COMPLETED, data: first.data.subarray(0, length) };
}

