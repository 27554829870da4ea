/**
 * A platform's answers to WebUSB transfers, as transfer completions. WebUSB
 * says what they are (a status of 'ok', 'stall' or 'babble', data in a
 * DataView, a count of bytes written); a platform, or an object of
 * navigator.usb's shape an embedder passed in, may answer anything else.
 * Nonsense is an error status with no data, and a line saying what came:
 * never an overflow, never a crash.
 * @module
 */
import { TransferStatus, type TransferStatusCode } from '../../usb/constants.js';
import { describeError, type IsoPacketCompletion, type TransferCompletion } from '../transport.js';
import type { InAnswer } from './in-pipe.js';
import type { USBTransferStatus } from './types.js';

const STATUSES: Record<USBTransferStatus, TransferStatusCode> = {
  ok: TransferStatus.COMPLETED, stall: TransferStatus.STALL, babble: TransferStatus.OVERFLOW,
};
const NO_DATA = new Uint8Array(0);

/** Answers are checked against WebUSB; what does not fit is reported here. */
export type Complain = (problem: string) => void;

function statusOf(value: unknown, what: string, complain: Complain): TransferStatusCode | undefined {
  if (typeof value === 'string' && Object.hasOwn(STATUSES, value)) return STATUSES[value as USBTransferStatus];
  complain(`${what} answered the status ${describeError(value)}, which WebUSB does not have`);
  return undefined;
}

function dataOf(value: unknown, what: string, complain: Complain): Uint8Array | undefined {
  if (value === undefined || value === null) return NO_DATA;
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  complain(`${what} answered data that is not a DataView (${describeError(value)})`);
  return undefined;
}

function isAnswer(r: unknown, what: string, complain: Complain): r is Record<string, unknown> {
  if (r && typeof r === 'object') return true;
  complain(`${what} answered ${describeError(r)} instead of a result`);
  return false;
}

/** OUT bytes written: WebUSB reports the whole length whatever the status; only a success says so. */
export function written(status: TransferStatusCode, bytesWritten: unknown): number {
  return status === TransferStatus.COMPLETED && typeof bytesWritten === 'number' ? bytesWritten : 0;
}

/** An IN transfer's result (USBInTransferResult). */
export function inAnswer(r: unknown, what: string, complain: Complain): InAnswer {
  if (!isAnswer(r, what, complain)) return { status: TransferStatus.ERROR, data: NO_DATA };
  const status = statusOf(r.status, what, complain);
  const data = dataOf(r.data, what, complain);
  return status === undefined || !data ? { status: TransferStatus.ERROR, data: NO_DATA } : { status, data };
}

/** An OUT transfer's result (USBOutTransferResult). */
export function outAnswer(r: unknown, what: string, complain: Complain): TransferCompletion {
  if (!isAnswer(r, what, complain)) return { status: TransferStatus.ERROR, bytesWritten: 0 };
  const status = statusOf(r.status, what, complain);
  return status === undefined ? { status: TransferStatus.ERROR, bytesWritten: 0 } : { status, bytesWritten: written(status, r.bytesWritten) };
}

/** An isochronous result's packets, each checked like a transfer's result. */
export function isoAnswer(r: unknown, isIn: boolean, what: string, complain: Complain): TransferCompletion {
  if (!isAnswer(r, what, complain) || !Array.isArray(r.packets)) {
    if (r && typeof r === 'object') complain(`${what} answered packets that are not a list`);
    return { status: TransferStatus.ERROR };
  }
  const packets: IsoPacketCompletion[] = r.packets.map((p: unknown, i: number) => {
    const where = `${what} (packet ${i})`;
    if (isIn) {
      const a = inAnswer(p, where, complain);
      return { status: a.status, data: a.data };
    }
    const a = outAnswer(p, where, complain);
    return { status: a.status, length: a.bytesWritten };
  });
  return { status: TransferStatus.COMPLETED, isoPackets: packets };
}
