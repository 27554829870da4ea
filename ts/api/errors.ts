/**
 * Errors of the typed JS API. Every failure libusb reports becomes a
 * {@link LibusbError} carrying libusb's error code and name; a transfer that
 * did not complete is a {@link TransferError}, which also says how the
 * transfer ended and what it moved before that.
 * @module
 */
import { ErrorCode, libusbErrorName, type LibusbErrorCode } from '../usb/constants.js';
import type { TransferStatusName } from './types.js';

/** `enum libusb_error` names, as libusb_error_name() gives them. */
export type LibusbErrorName =
  | 'LIBUSB_SUCCESS' | 'LIBUSB_ERROR_IO' | 'LIBUSB_ERROR_INVALID_PARAM' | 'LIBUSB_ERROR_ACCESS'
  | 'LIBUSB_ERROR_NO_DEVICE' | 'LIBUSB_ERROR_NOT_FOUND' | 'LIBUSB_ERROR_BUSY' | 'LIBUSB_ERROR_TIMEOUT'
  | 'LIBUSB_ERROR_OVERFLOW' | 'LIBUSB_ERROR_PIPE' | 'LIBUSB_ERROR_INTERRUPTED' | 'LIBUSB_ERROR_NO_MEM'
  | 'LIBUSB_ERROR_NOT_SUPPORTED' | 'LIBUSB_ERROR_OTHER';

export { ErrorCode };
export type { LibusbErrorCode };

/** A libusb call failed. `code` is libusb's (negative) error code, `errorName` its name. */
export class LibusbError extends Error {
  /** libusb's error code, e.g. -9 for LIBUSB_ERROR_PIPE. */
  readonly code: LibusbErrorCode;
  /** libusb's name for the code, e.g. `'LIBUSB_ERROR_PIPE'`. */
  readonly errorName: LibusbErrorName;

  constructor(code: number, message?: string) {
    const name = libusbErrorName(code) as LibusbErrorName;
    super(message ? `${name}: ${message}` : name);
    this.name = 'LibusbError';
    this.code = code as LibusbErrorCode;
    this.errorName = name;
  }
}

/**
 * A transfer ended other than `completed`. The error code is what libusb's
 * synchronous transfer functions return for that status (a stall is
 * LIBUSB_ERROR_PIPE, a timeout LIBUSB_ERROR_TIMEOUT, ...), and the bytes
 * moved before it ended are here too, as libusb's `transferred` gives them.
 */
export class TransferError extends LibusbError {
  /** How the transfer ended. */
  readonly status: TransferStatusName;
  /** Bytes transferred before it ended. */
  readonly actualLength: number;
  /** IN transfers: the bytes received before it ended. */
  readonly data?: Uint8Array;

  constructor(status: TransferStatusName, actualLength: number, data?: Uint8Array) {
    super(statusErrorCode(status), `transfer ${status}${actualLength ? ` after ${actualLength} bytes` : ''}`);
    this.name = 'TransferError';
    this.status = status;
    this.actualLength = actualLength;
    this.data = data;
  }
}

const STATUS_NAMES: TransferStatusName[] = ['completed', 'error', 'timed-out', 'cancelled', 'stall', 'no-device', 'overflow'];

/** The name of a `libusb_transfer_status` value. */
export function transferStatusName(status: number): TransferStatusName {
  return STATUS_NAMES[status] ?? 'error';
}

/** The error libusb's synchronous API returns for a transfer status (sync.c). */
export function statusErrorCode(status: TransferStatusName): LibusbErrorCode {
  switch (status) {
    case 'completed':
      return ErrorCode.SUCCESS;
    case 'timed-out':
      return ErrorCode.TIMEOUT;
    case 'stall':
      return ErrorCode.PIPE;
    case 'no-device':
      return ErrorCode.NO_DEVICE;
    case 'overflow':
      return ErrorCode.OVERFLOW;
    default:
      return ErrorCode.IO;
  }
}

/**
 * How the worker reports a libusb failure across comlink: a plain object,
 * because comlink keeps only the message of thrown Errors.
 * @internal
 */
export interface WireError {
  libusbError: number;
  message: string;
}

/** @internal */
export function isWireError(value: unknown): value is WireError {
  return typeof value === 'object' && value !== null && typeof (value as WireError).libusbError === 'number';
}
