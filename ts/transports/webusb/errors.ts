/**
 * What WebUSB's exceptions mean to libusb: the error code of a failed
 * control-plane call, the status of a failed transfer.
 * @module
 */
import { ErrorCode, TransferStatus, type LibusbErrorCode, type TransferStatusCode } from '../../usb/constants.js';

/**
 * The libusb error for a WebUSB control-plane call (open, claim, ...) that
 * rejected with the exception `name`. `failure` is what the operation's
 * generic failure (NetworkError) means; `gone` whether the device has left.
 */
export function controlErrorCode(name: string, failure: LibusbErrorCode, gone: boolean): LibusbErrorCode {
  switch (name) {
    case 'NotFoundError': // the device is gone, or what was asked for does not exist
      return gone ? ErrorCode.NO_DEVICE : ErrorCode.NOT_FOUND;
    case 'NetworkError': // the platform's generic failure of this operation
      return gone ? ErrorCode.NO_DEVICE : failure;
    case 'SecurityError': // protected interface class, blocklisted device, no permission
      return ErrorCode.ACCESS;
    case 'InvalidStateError': // not open, not claimed, claimed elsewhere in this context
      return ErrorCode.BUSY;
    case 'AbortError': // closed or reset under it
      return ErrorCode.INTERRUPTED;
    case 'TimeoutError':
      return ErrorCode.TIMEOUT;
    case 'NotSupportedError':
      return ErrorCode.NOT_SUPPORTED;
    case 'TypeError': // arguments WebUSB refuses
    case 'RangeError':
    case 'IndexSizeError':
    case 'InvalidAccessError':
    case 'DataError':
      return ErrorCode.INVALID_PARAM;
    default: // not a DOMException: the `usb` package's own errors and the like
      return failure;
  }
}

/** The libusb transfer status for a WebUSB transfer that rejected with the exception `name`. */
export function transferErrorStatus(name: string, gone: boolean): TransferStatusCode {
  switch (name) {
    case 'AbortError': // closed under it (Chrome on Linux fails transfers under release, reset or SET_INTERFACE with NetworkError)
      return TransferStatus.CANCELLED;
    case 'TimeoutError':
      return TransferStatus.TIMED_OUT;
    default:
      // NotFoundError and NetworkError when the device left; otherwise a
      // transfer error, also for what the platform refuses (SecurityError,
      // InvalidStateError, TypeError, DataError...): a transfer status has no finer code
      return gone ? TransferStatus.NO_DEVICE : TransferStatus.ERROR;
  }
}

