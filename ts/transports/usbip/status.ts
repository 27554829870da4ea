/**
 * What USB/IP's numbers mean in libusb's terms: URB statuses (negative Linux
 * errno values, as usbip-host reports what the host controller said) to
 * libusb transfer statuses and back, and Linux's device speeds to libusb's.
 * Both directions are used: the client reads statuses, the server writes
 * them.
 * @module
 */
import { Speed, TransferStatus, type SpeedCode, type TransferStatusCode } from '../../usb/constants.js';

/** The Linux errno values URB statuses use. */
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
  EREMOTEIO: 121,
} as const;

/**
 * A URB status (0 or -errno) as a libusb transfer status, the way libusb's
 * Linux backend reads usbfs: -EREMOTEIO is a short packet (completed),
 * -ENOENT/-ECONNRESET an unlinked URB, -EPIPE a stall, -ENODEV/-ESHUTDOWN
 * a device gone, -EOVERFLOW babble; a timeout the server enforced is
 * TIMED_OUT; bus errors (-EPROTO, -EILSEQ, -ETIME, ...) are ERROR.
 * `isochronous`: -EXDEV (some packets failed) completes the transfer, the
 * packets say which.
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

/** A libusb transfer status as the URB status usbip-host would report (the inverse of {@link transferStatusOf}). */
export function urbStatusOf(status: number): number {
  switch (status) {
    case TransferStatus.COMPLETED: return 0;
    case TransferStatus.TIMED_OUT: return -Errno.ETIMEDOUT;
    case TransferStatus.CANCELLED: return -Errno.ECONNRESET;
    case TransferStatus.STALL: return -Errno.EPIPE;
    case TransferStatus.NO_DEVICE: return -Errno.ESHUTDOWN;
    case TransferStatus.OVERFLOW: return -Errno.EOVERFLOW;
    default: return -Errno.EPROTO;
  }
}

/** Linux's enum usb_device_speed, which USB/IP carries. */
export const LinuxSpeed = {
  UNKNOWN: 0,
  LOW: 1,
  FULL: 2,
  HIGH: 3,
  WIRELESS: 4,
  SUPER: 5,
  SUPER_PLUS: 6,
} as const;

/** A USB/IP speed as libusb's (wireless USB counts as high speed, as its sysfs "480" reads in libusb). */
export function libusbSpeedOf(speed: number): SpeedCode {
  switch (speed) {
    case LinuxSpeed.LOW: return Speed.LOW;
    case LinuxSpeed.FULL: return Speed.FULL;
    case LinuxSpeed.HIGH:
    case LinuxSpeed.WIRELESS: return Speed.HIGH;
    case LinuxSpeed.SUPER: return Speed.SUPER;
    case LinuxSpeed.SUPER_PLUS: return Speed.SUPER_PLUS;
    default: return Speed.UNKNOWN;
  }
}

/** libusb's speed as USB/IP's (Linux has no Gen 2x2 of its own: SuperSpeed+ it is). */
export function usbipSpeedOf(speed: SpeedCode): number {
  switch (speed) {
    case Speed.LOW: return LinuxSpeed.LOW;
    case Speed.FULL: return LinuxSpeed.FULL;
    case Speed.HIGH: return LinuxSpeed.HIGH;
    case Speed.SUPER: return LinuxSpeed.SUPER;
    case Speed.SUPER_PLUS:
    case Speed.SUPER_PLUS_X2: return LinuxSpeed.SUPER_PLUS;
    default: return LinuxSpeed.UNKNOWN;
  }
}
