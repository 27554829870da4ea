/**
 * A libusb transfer as a USB/IP URB, and the URB's outcome as the
 * transfer's completion: direction, endpoint number, transfer flags
 * (URB_ZERO_PACKET, URB_ISO_ASAP), the polling interval Linux's
 * usb_submit_urb() insists on for interrupt and isochronous endpoints,
 * isochronous packet descriptors, and statuses.
 * @module
 */
import { Speed, TransferStatus, TransferType, type SpeedCode } from '../../usb/constants.js';
import { encodeSetupPacket } from '../../usb/setup-packet.js';
import type { IsoPacketCompletion, TransferCompletion, TransferRequest } from '../transport.js';
import type { UrbOutcome, UrbSubmission } from './client-connection.js';
import { Errno, UrbFlag, transferStatusOf } from '../../usb/urb-status.js';
import type { IsoPacketDescriptor } from './protocol.js';


/**
 * urb->interval as a Linux driver fills it from bInterval (usb_fill_int_urb,
 * usbfs): high speed and faster, and every isochronous endpoint, count
 * 2^(bInterval-1) (micro)frames; full and low speed interrupt endpoints
 * count bInterval frames. usbip-host submits the URB with this value, and
 * usb_submit_urb() refuses 0 for these endpoint types.
 */
export function urbInterval(type: number, bInterval: number | undefined, speed: SpeedCode): number {
  if (type !== TransferType.INTERRUPT && type !== TransferType.ISOCHRONOUS) return 0;
  const b = bInterval ?? 1;
  const exponential = type === TransferType.ISOCHRONOUS || speed >= Speed.HIGH || speed === Speed.UNKNOWN;
  if (exponential) return 1 << (Math.min(16, Math.max(1, b)) - 1);
  return Math.max(1, b);
}

/** Whether data of a transfer flows from the device. */
export function isInTransfer(request: TransferRequest): boolean {
  return request.type === TransferType.CONTROL ? (request.setup!.bmRequestType & 0x80) !== 0 : (request.endpoint & 0x80) !== 0;
}

/** The USBIP_CMD_SUBMIT for a transfer. */
export function submissionOf(request: TransferRequest, interval: number): UrbSubmission {
  const isIn = isInTransfer(request);
  let flags = isIn ? UrbFlag.DIR_IN : 0;
  if (request.type === TransferType.BULK && !isIn && request.zeroLengthPacket) flags |= UrbFlag.ZERO_PACKET;
  let isoPackets: IsoPacketDescriptor[] | undefined;
  if (request.type === TransferType.ISOCHRONOUS) {
    flags |= UrbFlag.ISO_ASAP;
    isoPackets = [];
    const lengths = request.isoPacketLengths ?? [];
    let offset = 0;
    for (let i = 0; i < lengths.length; i++) {
      const length = lengths[i];
      isoPackets.push({ offset, length, actualLength: 0, status: 0 });
      offset += length;
    }
  }
  return {
    in: isIn,
    endpoint: request.type === TransferType.CONTROL ? 0 : request.endpoint & 0x0f,
    transferFlags: flags,
    length: request.length,
    interval,
    setup: request.setup ? encodeSetupPacket(request.setup) : undefined,
    data: isIn ? undefined : request.data?.subarray(0, request.length),
    isoPackets,
    into: isIn && !isoPackets ? request.into : undefined,
  };
}

/** A URB's outcome as the transfer's completion. */
export function completionOf(request: TransferRequest, outcome: UrbOutcome): TransferCompletion {
  if (outcome.connectionLost) return { status: TransferStatus.NO_DEVICE };
  const iso = request.type === TransferType.ISOCHRONOUS;
  if (outcome.unlinked) {
    // RET_UNLINK carries no data, whatever the device had sent: the transfer
    // ends cancelled unless the status says it failed on its own first
    const status = transferStatusOf(outcome.status, iso);
    return { status: status === TransferStatus.COMPLETED ? TransferStatus.CANCELLED : status };
  }
  const status = transferStatusOf(outcome.status, iso);
  const isIn = isInTransfer(request);
  if (iso) return { status, isoPackets: isoCompletions(outcome, isIn, request.isoPacketLengths ?? []) };
  if (isIn) return { status, data: outcome.data ?? new Uint8Array(0) };
  return { status, bytesWritten: outcome.actualLength };
}

/** Per-packet outcomes: IN data comes back to back (usbip-host leaves out the gaps between packets). */
function isoCompletions(outcome: UrbOutcome, isIn: boolean, lengths: ArrayLike<number>): IsoPacketCompletion[] {
  const packets = outcome.isoPackets;
  const out: IsoPacketCompletion[] = [];
  let offset = 0;
  for (let i = 0; i < lengths.length; i++) {
    const p = packets?.[i];
    if (!p) {
      // the server answered without packet descriptors: the transfer failed as a whole
      out.push({ status: transferStatusOf(outcome.status || -Errno.EPROTO, true), length: 0 });
      continue;
    }
    const status = transferStatusOf(p.status, true);
    if (isIn) {
      out.push({ status, data: outcome.data?.subarray(offset, offset + p.actualLength) ?? new Uint8Array(0) });
      offset += p.actualLength;
    } else {
      out.push({ status, length: p.actualLength });
    }
  }
  return out;
}
