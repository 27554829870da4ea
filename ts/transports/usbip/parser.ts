/**
 * The strict incremental parser of USB/IP (the layouts are in
 * ./protocol.ts): it turns the bytes of one connection, as they arrive, into
 * messages, for the server (requests, then commands) and for the client
 * (the reply it waits for, then URB replies).
 *
 * It trusts nothing: a message that is malformed, too large, or not
 * expected at that point of the conversation throws a
 * {@link UsbipProtocolError}, and the parser refuses everything after it
 * (the connection is to be closed).
 * @module
 */
import { ByteQueue } from './byte-queue.js';
import {
  BUSID_SIZE, Command, DEFAULT_MAX_TRANSFER_LENGTH, DEVICE_INFO_SIZE, Direction, INTERFACE_INFO_SIZE, ISO_DESCRIPTOR_SIZE,
  MAX_ISO_PACKETS, NOT_ISOCHRONOUS, OP_HEADER_SIZE, OpCode, OpStatus, URB_HEADER_SIZE, USBIP_VERSION, UsbipProtocolError,
  checkErrno, decodeDeviceInfo, decodeIsoDescriptors, decodeString, fail,
  type CmdSubmit, type IsoPacketDescriptor, type RetSubmit, type UsbipDeviceInfo, type UsbipMessage,
} from './protocol.js';

/** More devices than this in one OP_REP_DEVLIST is not a real server. */
const MAX_DEVLIST_DEVICES = 1024;
/** bNumInterfaces is a byte, but no real configuration has more than this. */
const MAX_INTERFACES = 32;

/** What a client parser needs to know about the URBs it sent, to frame the replies. */
export interface SubmittedUrbs {
  /**
   * The USBIP_CMD_SUBMIT with this seqnum, while it awaits its reply
   * (undefined otherwise). `into`, when given, receives IN data in place
   * (not isochronous).
   */
  submitted(seqnum: number): { in: boolean; length: number; isoPackets: number; into?: Uint8Array } | undefined;
  /** Whether a USBIP_CMD_UNLINK with this seqnum awaits its reply. */
  unlinking(seqnum: number): boolean;
}

/** Options of {@link UsbipParser}. */
export interface UsbipParserOptions {
  /** Largest transfer buffer accepted (default {@link DEFAULT_MAX_TRANSFER_LENGTH}). */
  maxTransferLength?: number;
}

type Mode = 'op' | 'urb' | 'done';
/** A parse step: consumes bytes and returns true, or returns false when it needs more. */
type Step = () => boolean;

/**
 * Turns the bytes of one connection, as they arrive, into messages. The
 * server's parser reads requests and commands; the client's reads the reply
 * it waits for (`expecting`) and then RET_SUBMIT / RET_UNLINK, framed with
 * what it knows of the URBs it sent.
 */
export class UsbipParser {
  private readonly queue = new ByteQueue();
  private readonly maxTransferLength: number;
  private mode: Mode = 'op';
  private step: Step = this.readHeader;
  private failure?: UsbipProtocolError;
  /** Messages completed by the bytes of the current push(). */
  private out: UsbipMessage[] = [];
  /** Where an IN payload is being written, and for which seqnum (client). */
  private target?: { seqnum: number; buffer: Uint8Array; filled: number; length: number };

  private constructor(
    private readonly role: 'server' | 'client',
    private readonly expecting: 'devlist' | 'import' | undefined,
    private readonly urbs: SubmittedUrbs | undefined,
    options: UsbipParserOptions,
  ) {
    this.maxTransferLength = options.maxTransferLength ?? DEFAULT_MAX_TRANSFER_LENGTH;
  }

  /** A server's parser: one operation request, then (after OP_REQ_IMPORT) commands. */
  static forServer(options: UsbipParserOptions = {}): UsbipParser {
    return new UsbipParser('server', undefined, undefined, options);
  }

  /** A client's parser: the reply to the operation it sent, then (after a successful import) URB replies. */
  static forClient(expecting: 'devlist' | 'import', urbs?: SubmittedUrbs, options: UsbipParserOptions = {}): UsbipParser {
    return new UsbipParser('client', expecting, urbs, options);
  }

  /** Bytes received and not yet part of a complete message. */
  get buffered(): number {
    return this.queue.length;
  }

  /** Feed bytes; returns the messages they complete. Throws UsbipProtocolError (and keeps throwing it). */
  push(chunk: Uint8Array): UsbipMessage[] {
    if (this.failure) throw this.failure;
    this.queue.push(chunk);
    const out: UsbipMessage[] = [];
    this.out = out;
    try {
      while (this.step.call(this));
    } catch (e) {
      this.failure = e instanceof UsbipProtocolError ? e : new UsbipProtocolError(`malformed message: ${(e as Error)?.message ?? e}`);
      throw this.failure;
    }
    return out;
  }

  /**
   * Stop writing the IN payload of `seqnum` into the buffer its submitted()
   * entry gave (the transfer was cancelled): what arrived so far moves to a
   * buffer of the parser's own, and the rest follows it there.
   */
  releaseTarget(seqnum: number): void {
    const t = this.target;
    if (!t || t.seqnum !== seqnum) return;
    const own = new Uint8Array(t.buffer.length);
    own.set(t.buffer.subarray(0, t.filled));
    t.buffer = own;
  }

  private readHeader(): boolean {
    if (this.mode === 'done') {
      if (this.queue.length) fail(`${this.queue.length} unexpected bytes after the ${this.role === 'server' ? 'request' : 'reply'}`);
      return false;
    }
    if (this.mode === 'op') return this.readOp();
    if (this.queue.length < URB_HEADER_SIZE) return false;
    const h = this.queue.take(URB_HEADER_SIZE);
    const v = new DataView(h.buffer, h.byteOffset, URB_HEADER_SIZE);
    const command = v.getUint32(0);
    if (this.role === 'server') {
      if (command === Command.CMD_SUBMIT) return this.readCmdSubmit(v);
      if (command === Command.CMD_UNLINK) {
        this.out.push({ type: 'cmd-unlink', seqnum: v.getUint32(4), devid: v.getUint32(8), unlinkSeqnum: v.getUint32(20) });
        return true;
      }
      fail(`unknown command 0x${command.toString(16)} from the client (expected CMD_SUBMIT or CMD_UNLINK)`);
    }
    if (command === Command.RET_SUBMIT) return this.readRetSubmit(v);
    if (command === Command.RET_UNLINK) {
      const seqnum = v.getUint32(4);
      if (!this.urbs?.unlinking(seqnum)) fail(`RET_UNLINK for seqnum ${seqnum}, which is no pending unlink`);
      this.out.push({ type: 'ret-unlink', seqnum, status: checkErrno(v.getInt32(20), 'RET_UNLINK') });
      return true;
    }
    return fail(`unknown command 0x${command.toString(16)} from the server (expected RET_SUBMIT or RET_UNLINK)`);
  }

  private readOp(): boolean {
    if (this.queue.length < OP_HEADER_SIZE) return false;
    const h = this.queue.take(OP_HEADER_SIZE);
    const v = new DataView(h.buffer, h.byteOffset, OP_HEADER_SIZE);
    const version = v.getUint16(0);
    const code = v.getUint16(2);
    const status = v.getUint32(4);
    if (version !== USBIP_VERSION) {
      fail(`protocol version 0x${version.toString(16).padStart(4, '0')} (expected 0x0111, USB/IP 1.1.1)`);
    }
    const name = `0x${code.toString(16).padStart(4, '0')}`;
    if (this.role === 'server') {
      if (status !== OpStatus.OK) fail(`request ${name} with status ${status} (must be 0)`);
      if (code === OpCode.REQ_DEVLIST) {
        this.mode = 'done';
        this.out.push({ type: 'req-devlist' });
        return true;
      }
      if (code !== OpCode.REQ_IMPORT) fail(`unknown operation ${name} (expected OP_REQ_DEVLIST or OP_REQ_IMPORT)`);
      this.step = this.after(BUSID_SIZE, (b) => {
        this.mode = 'urb';
        this.out.push({ type: 'req-import', busid: decodeString(b, 0, BUSID_SIZE, 'busid') });
      });
      return true;
    }
    const wanted = this.expecting === 'devlist' ? OpCode.REP_DEVLIST : OpCode.REP_IMPORT;
    if (code !== wanted) fail(`reply ${name} to ${this.expecting === 'devlist' ? 'OP_REQ_DEVLIST' : 'OP_REQ_IMPORT'}`);
    if (status !== OpStatus.OK) {
      this.mode = 'done';
      this.out.push(code === OpCode.REP_DEVLIST ? { type: 'rep-devlist', status, devices: [] } : { type: 'rep-import', status });
      return true;
    }
    if (code === OpCode.REP_IMPORT) {
      this.step = this.after(DEVICE_INFO_SIZE, (b) => {
        this.mode = 'urb';
        this.out.push({ type: 'rep-import', status, device: decodeDeviceInfo(b) });
      });
      return true;
    }
    this.step = this.after(4, (b) => {
      const count = new DataView(b.buffer, b.byteOffset, 4).getUint32(0);
      if (count > MAX_DEVLIST_DEVICES) fail(`OP_REP_DEVLIST claims ${count} devices`);
      this.readDevices(count, []);
    });
    return true;
  }

  /** The devices of OP_REP_DEVLIST, one after the other. */
  private readDevices(left: number, devices: UsbipDeviceInfo[]): void {
    if (left === 0) {
      this.mode = 'done';
      this.step = this.readHeader;
      this.out.push({ type: 'rep-devlist', status: OpStatus.OK, devices });
      return;
    }
    this.step = this.after(DEVICE_INFO_SIZE, (b) => {
      const device = decodeDeviceInfo(b);
      if (device.numInterfaces > MAX_INTERFACES) fail(`device ${device.busid} claims ${device.numInterfaces} interfaces`);
      this.step = this.after(device.numInterfaces * INTERFACE_INFO_SIZE, (ib) => {
        for (let i = 0; i < device.numInterfaces; i++) {
          const o = i * INTERFACE_INFO_SIZE;
          device.interfaces.push({ interfaceClass: ib[o], interfaceSubclass: ib[o + 1], interfaceProtocol: ib[o + 2] });
        }
        devices.push(device);
        this.readDevices(left - 1, devices);
      }, false);
    }, false);
  }

  /** A step that waits for `n` bytes, hands them to `then`, and (unless told otherwise) goes back to headers. */
  private after(n: number, then: (bytes: Uint8Array) => void, backToHeader = true): Step {
    return () => {
      if (this.queue.length < n) return false;
      if (backToHeader) this.step = this.readHeader;
      then(this.queue.take(n));
      return true;
    };
  }

  private readCmdSubmit(v: DataView): boolean {
    const m: CmdSubmit = {
      type: 'cmd-submit', seqnum: v.getUint32(4), devid: v.getUint32(8), direction: v.getUint32(12), endpoint: v.getUint32(16),
      transferFlags: v.getUint32(20), transferBufferLength: v.getInt32(24), startFrame: v.getInt32(28),
      numberOfPackets: v.getUint32(32), interval: v.getInt32(36), setup: new Uint8Array(v.buffer, v.byteOffset + 40, 8).slice(),
    };
    if (m.direction !== Direction.OUT && m.direction !== Direction.IN) fail(`CMD_SUBMIT ${m.seqnum}: direction ${m.direction}`);
    if (m.endpoint > 15) fail(`CMD_SUBMIT ${m.seqnum}: endpoint ${m.endpoint}`);
    if (m.transferBufferLength < 0 || m.transferBufferLength > this.maxTransferLength) {
      fail(`CMD_SUBMIT ${m.seqnum}: transfer_buffer_length ${m.transferBufferLength} (at most ${this.maxTransferLength})`);
    }
    const packets = isoPacketCount(m.numberOfPackets, `CMD_SUBMIT ${m.seqnum}`);
    const dataLength = m.direction === Direction.OUT ? m.transferBufferLength : 0;
    if (!dataLength && !packets) {
      // the header is the whole message
      this.out.push(m);
      return true;
    }
    this.step = this.after(dataLength, (data) => {
      if (dataLength) m.data = data;
      this.step = this.after(packets * ISO_DESCRIPTOR_SIZE, (iso) => {
        if (packets) {
          m.isoPackets = decodeIsoDescriptors(iso, packets);
          checkIsoLayout(m.isoPackets, m.transferBufferLength, `CMD_SUBMIT ${m.seqnum}`);
        }
        this.out.push(m);
      });
    }, false);
    return true;
  }

  private readRetSubmit(v: DataView): boolean {
    const seqnum = v.getUint32(4);
    const sent = this.urbs?.submitted(seqnum);
    if (!sent) fail(`RET_SUBMIT for seqnum ${seqnum}, which is not pending`);
    const what = `RET_SUBMIT ${seqnum}`;
    const m: RetSubmit = {
      type: 'ret-submit', seqnum, status: checkErrno(v.getInt32(20), what), actualLength: v.getInt32(24),
      startFrame: v.getInt32(28), numberOfPackets: v.getUint32(32), errorCount: v.getInt32(36),
    };
    if (m.actualLength < 0 || m.actualLength > sent.length) fail(`${what}: actual_length ${m.actualLength} of a ${sent.length}-byte transfer`);
    const packets = isoPacketCount(m.numberOfPackets, what);
    if (packets !== sent.isoPackets && !(packets === 0 && m.status !== 0)) {
      fail(`${what}: ${packets} isochronous packets for a transfer of ${sent.isoPackets}`);
    }
    const length = sent.in ? m.actualLength : 0;
    if (length) {
      const into = sent.into && !packets && sent.into.length >= length ? sent.into : undefined;
      this.target = { seqnum, buffer: into ?? new Uint8Array(length), filled: 0, length };
      this.step = () => this.readPayload(m, packets);
    } else if (packets) {
      this.readRetIso(m, packets);
    } else {
      // the header is the whole message
      this.out.push(m);
    }
    return true;
  }

  /** The IN payload of a RET_SUBMIT (not empty), written into its target as it arrives, then its iso descriptors. */
  private readPayload(m: RetSubmit, packets: number): boolean {
    const t = this.target!;
    const n = this.queue.drainInto(t.buffer, t.filled, t.length - t.filled);
    if (n === 0) return false;
    t.filled += n;
    if (t.filled < t.length) return true;
    this.target = undefined;
    m.data = t.buffer.subarray(0, t.length);
    if (packets) this.readRetIso(m, packets);
    else {
      this.step = this.readHeader;
      this.out.push(m);
    }
    return true;
  }

  /** The iso descriptors that end a RET_SUBMIT (from the next step on). */
  private readRetIso(m: RetSubmit, packets: number): void {
    this.step = this.after(packets * ISO_DESCRIPTOR_SIZE, (iso) => {
      m.isoPackets = decodeIsoDescriptors(iso, packets);
      const total = m.isoPackets.reduce((s, p) => s + p.actualLength, 0);
      if (total !== m.actualLength) fail(`RET_SUBMIT ${m.seqnum}: iso packets total ${total} bytes, actual_length ${m.actualLength}`);
      for (const p of m.isoPackets) checkErrno(p.status, `RET_SUBMIT ${m.seqnum} iso packet`);
      this.out.push(m);
    });
  }
}

/** number_of_packets as a count (0 for a transfer that is not isochronous). */
function isoPacketCount(numberOfPackets: number, what: string): number {
  if (numberOfPackets === NOT_ISOCHRONOUS) return 0;
  if (numberOfPackets > MAX_ISO_PACKETS) fail(`${what}: ${numberOfPackets} isochronous packets (at most ${MAX_ISO_PACKETS})`);
  return numberOfPackets;
}

function checkIsoLayout(packets: IsoPacketDescriptor[], bufferLength: number, what: string): void {
  for (const p of packets) {
    if (p.offset + p.length > bufferLength) fail(`${what}: iso packet at ${p.offset}+${p.length} outside the ${bufferLength}-byte buffer`);
  }
}
