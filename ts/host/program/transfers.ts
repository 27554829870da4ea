/**
 * One program's transfers: a submitted request becomes a TransferRequest for
 * the transport (its buffers are views of the program's memory), and
 * whatever the transport answers becomes a libusb completion. The answer is
 * never trusted: a transport that answers undefined, an odd object, a
 * negative or too large byte count, an unknown status, or rejects with
 * something unprintable, completes the transfer with a sane status
 * (LIBUSB_TRANSFER_ERROR for nonsense; counts clamped to the buffer), says so
 * in one line, and the host goes on serving.
 * @module
 */
import {
  RequestType, StandardRequest, TransferFlag, TransferStatus, TransferType, ErrorCode, type LibusbErrorCode,
  type TransferStatusCode,
} from '../../usb/constants.js';
import { describeError, type SetupPacket, type TransferCompletion, type TransferRequest } from '../../transports/transport.js';
import type { OpenHandle } from '../device.js';
import { LwIsoPacket, LwReq } from '../protocol.gen.js';
import type { ProgramChannel } from './channel.js';

/** What a capture records for a transfer that ended without an answer. */
const CANCELLED = { status: TransferStatus.CANCELLED } as const;

/** How long a transport that said it can cancel gets to settle the transfer. */
const CANCEL_GRACE_MS = 1000;
/** Most isochronous packets in one transfer (libusb's own limit is far lower in practice). */
const MAX_ISO_PACKETS = 1 << 16;
const STATUSES = new Set<number>(Object.values(TransferStatus));

/** A transfer the transport has. */
interface InFlight {
  /** Its lw_req in the program's memory, and that submission's sequence number. */
  ptr: number;
  seq: number;
  /** The lw_ctx_shared its completion goes to. */
  ctx: number;
  handle: OpenHandle;
  request: TransferRequest;
  /** Bytes counted against the program's limit (the request's len). */
  bytes: number;
  isIn: boolean;
  /** Where IN data goes, and how much fits. */
  dest: number;
  capacity: number;
  /** Isochronous: the packet descriptors' address and the requested lengths. */
  isoTable: number;
  isoLengths?: Uint32Array;
  settled: boolean;
  cancelRequested: boolean;
}

/** What a transport answer comes to once checked. */
interface Outcome {
  status: TransferStatusCode;
  actual: number;
}

export class Transfers {
  private readonly inflight = new Map<number, InFlight>();
  private inflightBytes = 0;

  constructor(private readonly channel: ProgramChannel) {}

  get count(): number {
    return this.inflight.size;
  }

  /** LW_OP_SUBMIT: check the request, hand it to the transport. */
  submit(ptr: number, handleOf: (id: number) => OpenHandle | undefined): void {
    const ch = this.channel;
    const m = ch.mem;
    const u8 = m.u8;
    const ctx = ch.field(ptr, LwReq.ctx);
    if (!ch.contexts.has(ctx)) return; // nowhere to complete it: a forged request, or a context already gone
    const h = handleOf(ch.field(ptr, LwReq.handle));
    if (!h || h.closed || h.device.gone || h.revoked) {
      this.reject(ptr, TransferStatus.NO_DEVICE);
      return;
    }
    const endpoint = ch.field(ptr, LwReq.arg0) & 0xff;
    const type = ch.field(ptr, LwReq.arg1) as TransferRequest['type'];
    const buf = ch.field(ptr, LwReq.buf);
    const len = ch.field(ptr, LwReq.len);
    const flags = ch.field(ptr, LwReq.flags);
    const timeout = ch.field(ptr, LwReq.timeout);
    if (!m.valid(buf, len) || type > TransferType.INTERRUPT) {
      ch.log('a transfer with a buffer outside its memory, or of an unknown type');
      this.reject(ptr, TransferStatus.ERROR);
      return;
    }
    const policy = ch.policy;
    if (policy && (this.inflight.size >= policy.maxTransfersInFlight || this.inflightBytes + len > policy.maxBytesInFlight)) {
      this.reject(ptr, TransferStatus.ERROR); // past the limits: the C side refuses these itself (NO_MEM)
      return;
    }
    let request: TransferRequest;
    let isIn: boolean;
    let dest = buf;
    let capacity = len;
    let isoLengths: Uint32Array | undefined;
    const isoTable = ch.field(ptr, LwReq.iso);

    if (type === TransferType.CONTROL) {
      if (len < 8) {
        this.reject(ptr, TransferStatus.ERROR);
        return;
      }
      const setup: SetupPacket = {
        bmRequestType: u8[buf], bRequest: u8[buf + 1], wValue: u8[buf + 2] | (u8[buf + 3] << 8),
        wIndex: u8[buf + 4] | (u8[buf + 5] << 8), wLength: u8[buf + 6] | (u8[buf + 7] << 8),
      };
      const refusal = this.controlRefusal(h, setup);
      if (refusal) {
        ch.log(refusal);
        this.reject(ptr, TransferStatus.STALL);
        return;
      }
      const wLength = Math.min(setup.wLength, len - 8);
      isIn = (setup.bmRequestType & RequestType.DIR_IN) !== 0;
      dest = buf + 8;
      capacity = wLength;
      request = {
        type, endpoint: isIn ? 0x80 : 0x00, setup, length: wLength, zeroLengthPacket: false, timeout,
        data: isIn ? undefined : u8.subarray(buf + 8, buf + 8 + wLength),
        into: isIn ? u8.subarray(buf + 8, buf + 8 + wLength) : undefined,
      };
    } else {
      isIn = (endpoint & 0x80) !== 0;
      if (!h.endpointUsable(endpoint)) {
        ch.log(`a transfer on endpoint 0x${endpoint.toString(16)}, not in a claimed interface`);
        this.reject(ptr, TransferStatus.ERROR);
        return;
      }
      if (type === TransferType.ISOCHRONOUS) {
        const n = ch.field(ptr, LwReq.num_iso);
        if (n > MAX_ISO_PACKETS || !m.valid(isoTable, n * LwIsoPacket.SIZE, 4)) {
          ch.log(`isochronous packet descriptors outside its memory (${n} packets)`);
          this.reject(ptr, TransferStatus.ERROR);
          return;
        }
        isoLengths = new Uint32Array(n);
        let total = 0;
        for (let i = 0; i < n; i++) {
          isoLengths[i] = m.u32[(isoTable + i * LwIsoPacket.SIZE + LwIsoPacket.length) >> 2];
          total += isoLengths[i];
        }
        if (total > len) {
          ch.log(`isochronous packet lengths (${total} bytes) exceed the buffer (${len} bytes)`);
          this.reject(ptr, TransferStatus.ERROR);
          return;
        }
      }
      request = {
        type, endpoint, length: len, zeroLengthPacket: (flags & TransferFlag.ADD_ZERO_PACKET) !== 0, timeout,
        isoPacketLengths: isoLengths,
        data: isIn ? undefined : u8.subarray(buf, buf + len),
        into: isIn && !isoLengths ? u8.subarray(buf, buf + len) : undefined,
      };
    }

    const rec: InFlight = {
      ptr, seq: ch.field(ptr, LwReq.seq), ctx, handle: h, request, bytes: len, isIn, dest, capacity, isoTable, isoLengths,
      settled: false, cancelRequested: false,
    };
    this.inflight.set(ptr, rec);
    this.inflightBytes += len;
    let answer: TransferCompletion | Promise<TransferCompletion>;
    ch.capture?.submitted(h.device.capture, request);
    try {
      answer = h.device.transportDevice.transfer(request);
    } catch (e) {
      this.finishWithError(rec, `the transport threw on a transfer: ${describeError(e)}`);
      return;
    }
    if (answer && typeof (answer as Promise<TransferCompletion>).then === 'function') {
      Promise.resolve(answer).then(
        (r) => this.finish(rec, r),
        (e) => this.finishWithError(rec, `a transfer failed: ${describeError(e)}`),
      ).catch((e) => this.finishWithError(rec, `completing a transfer failed: ${describeError(e)}`));
    } else {
      this.finish(rec, answer as TransferCompletion);
    }
  }

  /** LW_OP_CANCEL: 0 if the transfer will complete as cancelled, NOT_FOUND if it is done. */
  cancel(ptr: number, seq: number): LibusbErrorCode {
    const rec = this.inflight.get(ptr);
    if (!rec || rec.seq !== seq || rec.settled || rec.cancelRequested) return ErrorCode.NOT_FOUND;
    rec.cancelRequested = true;
    let promised = false;
    try {
      promised = rec.handle.device.transportDevice.cancel?.(rec.request) === true;
    } catch (e) {
      this.channel.log(`the transport threw on a cancel: ${describeError(e)}`);
    }
    if (!promised) {
      // the transport cannot stop it: complete now, discard the late result
      this.forceCancel(rec);
    } else {
      // the transport promised to settle it; make sure it does
      setTimeout(() => this.forceCancel(rec), CANCEL_GRACE_MS);
    }
    return ErrorCode.SUCCESS;
  }

  /** End the transfers of a handle (or all) with a status: the device left, or the program is let go. */
  endAll(status: TransferStatusCode, handle?: OpenHandle): void {
    for (const rec of [...this.inflight.values()]) {
      if (handle && rec.handle !== handle) continue;
      this.finish(rec, { status });
      this.tellTransportToStop(rec);
    }
  }

  /** Forget a closed handle's transfers without completing them (libusb dropped them at close). */
  dropAll(handle: OpenHandle): void {
    for (const rec of [...this.inflight.values()]) {
      if (rec.handle !== handle) continue;
      this.abandon(rec);
      this.tellTransportToStop(rec);
    }
  }

  /** Complete a transfer that never reached the transport. */
  reject(ptr: number, status: number): void {
    this.channel.retire(this.channel.field(ptr, LwReq.len));
    this.channel.complete(ptr, this.channel.field(ptr, LwReq.ctx), status, 0);
  }

  /**
   * Why a control request must not reach the device, or undefined. A raw
   * SET_CONFIGURATION or SET_INTERFACE never comes from our libusb (the
   * backend carries those out as the libusb calls, with their checks), so
   * one that does is forged to get around them. Under a policy, a request
   * addressed to an interface (or an endpoint of one) of a blocked class is
   * refused, as WebUSB does: a claim refused must not be worked around with
   * class requests.
   */
  private controlRefusal(h: OpenHandle, s: SetupPacket): string | undefined {
    const standardOut = (s.bmRequestType & (RequestType.DIR_IN | RequestType.TYPE_MASK)) === RequestType.TYPE_STANDARD;
    const recipient = s.bmRequestType & RequestType.RECIPIENT_MASK;
    if (standardOut && recipient === RequestType.RECIPIENT_DEVICE && s.bRequest === StandardRequest.SET_CONFIGURATION) {
      return 'a raw SET_CONFIGURATION request, refused (libusb_set_configuration does this, with its checks)';
    }
    if (standardOut && recipient === RequestType.RECIPIENT_INTERFACE && s.bRequest === StandardRequest.SET_INTERFACE) {
      return 'a raw SET_INTERFACE request, refused (libusb_set_interface_alt_setting does this, with its checks)';
    }
    const policy = this.channel.policy;
    if (!policy) return undefined;
    let iface: number | undefined;
    if (recipient === RequestType.RECIPIENT_INTERFACE) iface = s.wIndex & 0xff;
    else if (recipient === RequestType.RECIPIENT_ENDPOINT) iface = h.device.interfaceOfEndpoint(s.wIndex & 0xff);
    if (iface === undefined || policy.claimable(h.device.facts, h.device.configurationValue(), iface)) return undefined;
    return `a control request to interface ${iface}, of a class the policy blocks: refused`;
  }

  private tellTransportToStop(rec: InFlight): void {
    try {
      rec.handle.device.transportDevice.cancel?.(rec.request);
    } catch {
      // it was ended already for libusb; whatever the transport does is discarded
    }
  }

  /** Forget a transfer (its result, if any comes, is discarded) and give its budget back. */
  private settle(rec: InFlight): void {
    rec.settled = true;
    this.inflight.delete(rec.ptr);
    this.inflightBytes -= rec.bytes;
    this.channel.retire(rec.bytes);
  }

  /** Settle a transfer that ends without its answer; a capture records it as cancelled. */
  private abandon(rec: InFlight): void {
    this.settle(rec);
    this.channel.capture?.completed(rec.handle.device.capture, rec.request, CANCELLED);
  }

  private forceCancel(rec: InFlight): void {
    if (rec.settled) return;
    this.abandon(rec);
    this.channel.complete(rec.ptr, rec.ctx, TransferStatus.CANCELLED, 0);
  }

  private finishWithError(rec: InFlight, problem: string): void {
    if (rec.settled) return;
    this.channel.log(problem);
    this.finish(rec, { status: TransferStatus.ERROR });
  }

  /** A transfer's answer arrived: check it, copy IN data, complete it for libusb. */
  finish(rec: InFlight, answer: unknown): void {
    if (rec.settled) return; // cancelled and completed already: discard
    this.settle(rec);
    if (!this.channel.running) return;
    let outcome: Outcome;
    try {
      outcome = this.writeResult(rec, answer);
    } catch (e) {
      this.channel.log(`a transfer's answer could not be used: ${describeError(e)}`);
      outcome = { status: TransferStatus.ERROR, actual: 0 };
    }
    this.channel.capture?.completed(rec.handle.device.capture, rec.request, answer as TransferCompletion);
    this.channel.complete(rec.ptr, rec.ctx, outcome.status, outcome.actual);
  }

  /** Check a transport's answer and write its data and counts into the program's memory. */
  private writeResult(rec: InFlight, answer: unknown): Outcome {
    const m = this.channel.mem;
    m.refresh();
    if (!answer || typeof answer !== 'object') {
      this.channel.log(`the transport answered a transfer with ${describeError(answer)}`);
      return { status: TransferStatus.ERROR, actual: 0 };
    }
    const r = answer as Partial<Record<keyof TransferCompletion, unknown>>;
    let status = this.status(r.status);
    if (rec.isoLengths) return this.writeIsoResult(rec, status, r.isoPackets);
    let actual = 0;
    if (rec.isIn) {
      const data = r.data;
      if (data !== undefined && !(data instanceof Uint8Array)) {
        this.channel.log(`the transport answered an IN transfer with data that is not a Uint8Array (${describeError(data)})`);
        return { status: TransferStatus.ERROR, actual: 0 };
      }
      if (data) {
        actual = Math.min(data.length, rec.capacity);
        if (data.length > rec.capacity && status === TransferStatus.COMPLETED) status = TransferStatus.OVERFLOW;
        // the transport may have written in place (request.into): nothing to copy
        if (data.buffer !== m.u8.buffer || data.byteOffset !== rec.dest) {
          m.u8.set(actual === data.length ? data : data.subarray(0, actual), rec.dest);
        }
      }
    } else {
      const fallback = status === TransferStatus.COMPLETED ? rec.capacity : 0;
      actual = this.byteCount(r.bytesWritten, fallback, rec.capacity, 'bytesWritten');
    }
    return { status, actual };
  }

  private writeIsoResult(rec: InFlight, status: TransferStatusCode, packets: unknown): Outcome {
    const m = this.channel.mem;
    const lengths = rec.isoLengths!;
    if (packets !== undefined && !Array.isArray(packets)) {
      this.channel.log(`the transport answered isochronous packets that are not a list (${describeError(packets)})`);
      packets = undefined;
      status = TransferStatus.ERROR;
    }
    const list = (packets ?? []) as unknown[];
    let actual = 0;
    let off = rec.dest;
    for (let i = 0; i < lengths.length; i++) {
      const want = lengths[i];
      const p = list[i] as Partial<Record<'status' | 'data' | 'length', unknown>> | undefined;
      let n = 0;
      let st: number = status === TransferStatus.COMPLETED ? TransferStatus.ERROR : status; // a packet with no answer
      if (p && typeof p === 'object') {
        st = this.status(p.status);
        if (rec.isIn) {
          if (p.data instanceof Uint8Array) {
            n = Math.min(p.data.length, want);
            m.u8.set(p.data.subarray(0, n), off);
            if (p.data.length > want && st === TransferStatus.COMPLETED) st = TransferStatus.OVERFLOW;
          } else if (p.data !== undefined) {
            this.channel.log('the transport answered an isochronous IN packet with data that is not a Uint8Array');
            st = TransferStatus.ERROR;
          }
        } else {
          n = this.byteCount(p.length, want, want, 'an isochronous packet length');
        }
      }
      const d = rec.isoTable + i * LwIsoPacket.SIZE;
      m.u32[(d + LwIsoPacket.actual_length) >> 2] = n;
      m.i32[(d + LwIsoPacket.status) >> 2] = st;
      actual += n;
      off += want;
    }
    return { status, actual };
  }

  /** A transfer status from a transport; anything but a libusb transfer status is an error. */
  private status(value: unknown): TransferStatusCode {
    if (typeof value === 'number' && STATUSES.has(value)) return value as TransferStatusCode;
    this.channel.log(`the transport answered a transfer with status ${describeError(value)}, which is none of libusb's`);
    return TransferStatus.ERROR;
  }

  /** A byte count from a transport, clamped to 0..max (whole bytes); `fallback` when absent. */
  private byteCount(value: unknown, fallback: number, max: number, what: string): number {
    if (value === undefined) return Math.min(fallback, max);
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > max || !Number.isInteger(value)) {
      this.channel.log(`the transport answered ${what} = ${describeError(value)} for a transfer of ${max} bytes; clamped`);
      return typeof value === 'number' && Number.isFinite(value) ? Math.max(0, Math.min(max, Math.floor(value))) : 0;
    }
    return value;
  }
}
