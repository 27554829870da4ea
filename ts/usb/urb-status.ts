/**
 * Linux's numbers for a URB, which usbmon captures and USB/IP both carry:
 * its status (0 or a negative errno, as the host controller reported it),
 * its transfer flags, and what they mean in libusb's terms, both ways, as
 * libusb's Linux backend (linux_usbfs.c) reads them.
 * @module
 */
import { TransferStatus, type TransferStatusCode } from './constants.js';

/** The Linux errno values URB statuses are made of (negated). */
export const Errno = {
  ENOENT: 2,
  EXDEV: 18,
  ENODEV: 19,
  EINVAL: 22,
  EPIPE: 32,
  ETIME: 62,
  EPROTO: 71,
  EOVERFLOW: 75,
  EILSEQ: 84,
  ECONNRESET: 104,
  ESHUTDOWN: 108,
  ETIMEDOUT: 110,
  EINPROGRESS: 115,
  EREMOTEIO: 121,
} as const;

/**
 * URB transfer_flags bits (include/linux/usb.h); USB/IP's USBIP_URB_* flags
 * (include/uapi/linux/usbip.h) carry the same values.
 */
export const UrbFlag = {
  SHORT_NOT_OK: 0x0001,
  ISO_ASAP: 0x0002,
  ZERO_PACKET: 0x0040,
  DIR_IN: 0x0200,
} as const;

/**
 * The libusb status of a URB status: -EREMOTEIO is a short transfer refused
 * with URB_SHORT_NOT_OK (completed), -ENOENT/-ECONNRESET an unlink
 * (CANCELLED), -EPIPE a stall, -ENODEV/-ESHUTDOWN a device gone, -EOVERFLOW
 * babble; a timeout a server enforced (-ETIMEDOUT) is TIMED_OUT; bus errors
 * (-EPROTO, -EILSEQ, -ETIME...) are ERROR. `isochronous`: -EXDEV (some
 * packets failed) completes the transfer, its packets say which.
 */
export function transferStatusOf(status: number, isochronous = false): TransferStatusCode {
  switch (-status) {
    case 0:
    case Errno.EREMOTEIO:
      return TransferStatus.COMPLETED;
    case Errno.EXDEV:
      return isochronous ? TransferStatus.COMPLETED : TransferStatus.ERROR;
    case Errno.ENOENT:
    case Errno.ECONNRESET:
      return TransferStatus.CANCELLED;
    case Errno.EPIPE:
      return TransferStatus.STALL;
    case Errno.ENODEV:
    case Errno.ESHUTDOWN:
      return TransferStatus.NO_DEVICE;
    case Errno.EOVERFLOW:
      return TransferStatus.OVERFLOW;
    case Errno.ETIMEDOUT:
      return TransferStatus.TIMED_OUT;
    default:
      return TransferStatus.ERROR;
  }
}

/**
 * The URB status the kernel reports for a transfer that ended with a libusb
 * status (linux_usbfs.c in reverse). libusb times out by cancelling, so
 * TIMED_OUT and CANCELLED are both an unlink: -ECONNRESET.
 */
export function urbStatusOf(status: TransferStatusCode): number {
  switch (status) {
    case TransferStatus.COMPLETED: return 0;
    case TransferStatus.STALL: return -Errno.EPIPE;
    case TransferStatus.TIMED_OUT:
    case TransferStatus.CANCELLED: return -Errno.ECONNRESET;
    case TransferStatus.NO_DEVICE: return -Errno.ESHUTDOWN;
    case TransferStatus.OVERFLOW: return -Errno.EOVERFLOW;
    default: return -Errno.EPROTO;
  }
}
