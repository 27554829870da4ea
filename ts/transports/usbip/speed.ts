/**
 * Device speeds as USB/IP carries them (Linux's enum usb_device_speed) and
 * as libusb numbers them, both ways: the client reads them, the server
 * writes them. (URB statuses and flags are ts/usb/urb-status.ts's.)
 * @module
 */
import { Speed, type SpeedCode } from '../../usb/constants.js';

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
