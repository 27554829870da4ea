/**
 * The server's side of the mapping between URBs and transfers: a
 * USBIP_CMD_SUBMIT as the transfer to hand the transport, and the
 * transfer's completion as the USBIP_RET_SUBMIT (the client's side is
 * ts/transports/usbip/transfer-urb.ts).
 * @module
 */
import { TransferStatus, TransferType } from '../../usb/constants.js';
import type { TransferCompletion, TransferRequest } from '../../transports/transport.js';
import { Direction, type CmdSubmit, type IsoPacketDescriptor, type RetSubmit } from '../../transports/usbip/protocol.js';
import { Errno, UrbFlag, urbStatusOf } from '../../usb/urb-status.js';

/**
 * The transfer a CMD_SUBMIT asks for on an endpoint of type `type`
 * (undefined when the command does not fit the endpoint: isochronous
 * packets for another type).
 */
export function transferRequestOf(m: CmdSubmit, type: number): TransferRequest | undefined {
  const iso = type === TransferType.ISOCHRONOUS;
  if (!iso && m.isoPackets?.length) return undefined;
  const isIn = m.direction === Direction.IN;
  const endpoint = m.endpoint | (isIn ? 0x80 : 0);
  const base = { type: type as TransferRequest['type'], endpoint, zeroLengthPacket: (m.transferFlags & UrbFlag.ZERO_PACKET) !== 0, timeout: 0 };
  if (!iso) return { ...base, length: m.transferBufferLength, data: isIn ? undefined : m.data ?? new Uint8Array(0) };
  const packets = m.isoPackets ?? [];
  const lengths = packets.map((p) => p.length);
  const total = lengths.reduce((a, b) => a + b, 0);
  return { ...base, length: total, isoPacketLengths: lengths, data: isIn ? undefined : packedIsoData(m.data, packets, total) };
}

/** OUT packets back to back, as transfers carry them (a URB may leave gaps between them). */
function packedIsoData(data: Uint8Array | undefined, packets: IsoPacketDescriptor[], total: number): Uint8Array {
  const buffer = data ?? new Uint8Array(0);
  let consecutive = true;
  let offset = 0;
  for (const p of packets) {
    if (p.offset !== offset) consecutive = false;
    offset += p.length;
  }
  if (consecutive) return buffer.subarray(0, total);
  const out = new Uint8Array(total);
  offset = 0;
  for (const p of packets) {
    out.set(buffer.subarray(p.offset, p.offset + p.length), offset);
    offset += p.length;
  }
  return out;
}

/**
 * The RET_SUBMIT for a completed transfer. A short IN transfer the importer
 * did not allow (URB_SHORT_NOT_OK, not isochronous) fails with -EREMOTEIO,
 * as a host controller reports it.
 */
export function retSubmitOf(m: CmdSubmit, result: TransferCompletion): Omit<RetSubmit, 'type'> {
  const base = { seqnum: m.seqnum, startFrame: 0, errorCount: 0, numberOfPackets: 0 };
  if (m.isoPackets?.length) return { ...base, ...isoReturn(m, result) };
  let status = urbStatusOf(result.status);
  if (m.direction === Direction.IN) {
    let data = result.data ?? new Uint8Array(0);
    if (data.length > m.transferBufferLength) {
      data = data.subarray(0, m.transferBufferLength);
      if (status === 0) status = -Errno.EOVERFLOW;
    }
    if (status === 0 && (m.transferFlags & UrbFlag.SHORT_NOT_OK) && data.length < m.transferBufferLength) status = -Errno.EREMOTEIO;
    return { ...base, status, actualLength: data.length, data: data.length ? data : undefined };
  }
  const written = result.bytesWritten ?? (result.status === TransferStatus.COMPLETED ? m.transferBufferLength : 0);
  return { ...base, status, actualLength: Math.min(written, m.transferBufferLength) };
}

/** Isochronous: per-packet outcomes, IN data back to back without the gaps (as usbip-host sends it). */
function isoReturn(m: CmdSubmit, result: TransferCompletion): Pick<RetSubmit, 'status' | 'actualLength' | 'data' | 'isoPackets' | 'numberOfPackets' | 'errorCount'> {
  const packets = m.isoPackets!;
  const isIn = m.direction === Direction.IN;
  const pieces: Uint8Array[] = [];
  const out: IsoPacketDescriptor[] = [];
  let actualLength = 0;
  let errorCount = 0;
  packets.forEach((p, i) => {
    const r = result.isoPackets?.[i];
    let status = r ? urbStatusOf(r.status) : -Errno.EPROTO;
    let actual = 0;
    if (r && isIn) {
      let data = r.data ?? new Uint8Array(0);
      if (data.length > p.length) {
        data = data.subarray(0, p.length);
        if (status === 0) status = -Errno.EOVERFLOW;
      }
      pieces.push(data);
      actual = data.length;
    } else if (r) {
      actual = Math.min(r.length ?? (r.status === TransferStatus.COMPLETED ? p.length : 0), p.length);
    }
    if (status !== 0) errorCount++;
    actualLength += actual;
    out.push({ offset: p.offset, length: p.length, actualLength: actual, status });
  });
  let data: Uint8Array | undefined;
  if (isIn && actualLength) {
    data = new Uint8Array(actualLength);
    let o = 0;
    for (const piece of pieces) {
      data.set(piece, o);
      o += piece.length;
    }
  }
  const status = result.status === TransferStatus.COMPLETED ? 0 : urbStatusOf(result.status);
  return { status, actualLength, data, isoPackets: out, numberOfPackets: packets.length, errorCount };
}
