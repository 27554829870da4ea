/**
 * Deadlines on calls into a transport. A platform call that never settles
 * (a device that stopped answering, a broken navigator.usb-shaped object)
 * must not hold up libusb_init, other devices, other programs or a kill: it
 * fails with LIBUSB_ERROR_TIMEOUT after its deadline, and what it does if
 * it settles after all can be undone (`late`).
 * @module
 */
import { ErrorCode } from '../usb/constants.js';
import { TransportError } from '../transports/transport.js';

/** The default deadline of one control-plane call into a transport. */
export const TRANSPORT_CALL_MS = 5000;

/**
 * `call` with a deadline. On expiry it rejects with a TransportError
 * (LIBUSB_ERROR_TIMEOUT) naming `what`; if the call succeeds after that,
 * `late` gets its value (to release what it took).
 */
export function withDeadline<T>(call: () => Promise<T>, ms: number, what: string, late?: (value: T) => void): Promise<T> {
  let promise: Promise<T>;
  try {
    promise = Promise.resolve(call());
  } catch (e) {
    return Promise.reject(e);
  }
  if (!(ms > 0 && ms < Infinity)) return promise;
  return new Promise<T>((resolve, reject) => {
    let expired = false;
    const timer = setTimeout(() => {
      expired = true;
      reject(new TransportError(ErrorCode.TIMEOUT, `the transport did not answer ${what} within ${ms} ms`));
    }, ms);
    promise.then((value) => {
      clearTimeout(timer);
      if (!expired) resolve(value);
      else late?.(value);
    }, (error) => {
      clearTimeout(timer);
      if (!expired) reject(error);
    });
  });
}
